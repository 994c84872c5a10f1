"""The runbook's commands as written (runbook/emergency-rollback-plan.md), for the AWS CLI v1.

``aws logs tail`` is CLI v2 only; ``aws logs filter-log-events --log-group-name G --start-time MS``
stands in for it (same data, paginated by the CLI), as in tests/test_runbook_cli.py.
"""
from __future__ import annotations

P = "  --region eu-central-1 \\\n  --profile okta-sso"

CHECKLIST_TASKDEF = f"aws ecs describe-task-definition \\\n  --task-definition sandbox-broker \\\n{P}"
CHECKLIST_SERVICES = (
    "aws ecs describe-services \\\n  --cluster sandbox-broker-cluster \\\n"
    f"  --services sandbox-broker sandbox-broker-worker \\\n{P}")
CHECKLIST_LOGS = "aws logs filter-log-events --log-group-name {group} --start-time {start_ms} \\\n" + P
QUICK_STATUS = (
    "aws ecs describe-services \\\n  --cluster sandbox-broker-cluster \\\n"
    f"  --services sandbox-broker sandbox-broker-worker \\\n{P} \\\n"
    "  --query 'services[*].{Name:serviceName,Running:runningCount,Desired:desiredCount,"
    "Health:healthCheckGracePeriodSeconds}' \\\n  --output table")
OPTION3_STOP = (
    "aws ecs update-service \\\n  --cluster sandbox-broker-cluster \\\n  --service sandbox-broker-worker \\\n"
    f"  --desired-count 0 \\\n{P}")
OPTION1_UPDATE = (
    "aws ecs update-service \\\n  --cluster sandbox-broker-cluster \\\n  --service sandbox-broker \\\n"
    f"  --task-definition sandbox-broker:8 \\\n  --force-new-deployment \\\n{P}")
OPTION4_MONITOR = (
    "aws ecs describe-services \\\n  --cluster sandbox-broker-cluster \\\n"
    f"  --services sandbox-broker sandbox-broker-worker \\\n{P} \\\n"
    "  --query \"services[*].[serviceName,runningCount,desiredCount]\"")
VERIFY_DEPLOYMENTS = (
    "aws ecs describe-services \\\n  --cluster sandbox-broker-cluster \\\n  --services sandbox-broker \\\n"
    f"{P} \\\n  --query 'services[0].deployments'")
# Not in the runbook: without it Application Auto Scaling puts the worker back to 1 (see
# tests/test_runbook_cli.py::test_option3_as_written_is_undone_by_autoscaling).
AUTOSCALING_MIN_ZERO = (
    "aws application-autoscaling register-scalable-target \\\n  --service-namespace ecs \\\n"
    "  --resource-id service/sandbox-broker-cluster/sandbox-broker-worker \\\n"
    f"  --scalable-dimension ecs:service:DesiredCount \\\n  --min-capacity 0 \\\n{P}")
OPTION4_TARGET = [["sandbox-broker", 2, 2], ["sandbox-broker-worker", 0, 0]]
