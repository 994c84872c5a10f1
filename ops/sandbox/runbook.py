"""The runbook's own commands as written (for the AWS CLI v1), and the environments that point the
AWS CLI and `inv` at a World. One copy, used by the tests (the runbook's commands against the world)
and by bench/ (the runbook's commands against the toolkit).

Differences from the runbook, all forced: `aws logs tail` is CLI v2 only, so
`aws logs filter-log-events --log-group-name G --start-time MS` stands in for it; `watch -n 5 '...'`
becomes polling the quoted command; curl becomes requests.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

OPTION1_DESCRIBE = """aws ecs describe-services \\
  --cluster sandbox-broker-cluster \\
  --services sandbox-broker \\
  --region eu-central-1 \\
  --profile okta-sso \\
  --query 'services[0].taskDefinition'"""
OPTION1_UPDATE = """aws ecs update-service \\
  --cluster sandbox-broker-cluster \\
  --service sandbox-broker \\
  --task-definition sandbox-broker:8 \\
  --force-new-deployment \\
  --region eu-central-1 \\
  --profile okta-sso"""
OPTION1_MONITOR = """aws ecs describe-services \\
  --cluster sandbox-broker-cluster \\
  --services sandbox-broker \\
  --region eu-central-1 \\
  --profile okta-sso \\
  --query "services[0].deployments\""""
OPTION2_IMAGE = """aws ecs describe-task-definition \\
  --task-definition sandbox-broker:8 \\
  --region eu-central-1 \\
  --profile okta-sso \\
  --query 'taskDefinition.containerDefinitions[0].image'"""
OPTION3_STOP = """aws ecs update-service \\
  --cluster sandbox-broker-cluster \\
  --service sandbox-broker-worker \\
  --desired-count 0 \\
  --region eu-central-1 \\
  --profile okta-sso"""
OPTION3_VERIFY = """aws ecs describe-services \\
  --cluster sandbox-broker-cluster \\
  --services sandbox-broker-worker \\
  --region eu-central-1 \\
  --profile okta-sso \\
  --query 'services[0].[runningCount,desiredCount]'"""
OPTION4_MONITOR = """aws ecs describe-services \\
  --cluster sandbox-broker-cluster \\
  --services sandbox-broker sandbox-broker-worker \\
  --region eu-central-1 \\
  --profile okta-sso \\
  --query "services[*].[serviceName,runningCount,desiredCount]\""""
QUICK_STATUS = """aws ecs describe-services \\
  --cluster sandbox-broker-cluster \\
  --services sandbox-broker sandbox-broker-worker \\
  --region eu-central-1 \\
  --profile okta-sso \\
  --query 'services[*].{Name:serviceName,Running:runningCount,Desired:desiredCount,Health:healthCheckGracePeriodSeconds}' \\
  --output table"""
CHECKLIST_TASKDEF = """aws ecs describe-task-definition \\
  --task-definition sandbox-broker \\
  --region eu-central-1 \\
  --profile okta-sso"""
CHECKLIST_SERVICES = """aws ecs describe-services \\
  --cluster sandbox-broker-cluster \\
  --services sandbox-broker sandbox-broker-worker \\
  --region eu-central-1 \\
  --profile okta-sso"""
CHECKLIST_LOGS = """aws logs filter-log-events --log-group-name {group} --start-time {start_ms} \\
  --region eu-central-1 \\
  --profile okta-sso"""
VERIFY_DEPLOYMENTS = """aws ecs describe-services \\
  --cluster sandbox-broker-cluster \\
  --services sandbox-broker \\
  --region eu-central-1 \\
  --profile okta-sso \\
  --query 'services[0].deployments'"""
# Not in the runbook: what Option 3 needs first where a scaling policy may scale the worker out again
# (a scale-out alarm does not care about MinCapacity 0: only a suspended policy stays still).
AUTOSCALING_MIN_ZERO = """aws application-autoscaling register-scalable-target \\
  --service-namespace ecs \\
  --resource-id service/sandbox-broker-cluster/sandbox-broker-worker \\
  --scalable-dimension ecs:service:DesiredCount \\
  --min-capacity 0 \\
  --region eu-central-1 \\
  --profile okta-sso"""
AUTOSCALING_SUSPEND = """aws application-autoscaling register-scalable-target \\
  --service-namespace ecs \\
  --resource-id service/sandbox-broker-cluster/sandbox-broker-worker \\
  --scalable-dimension ecs:service:DesiredCount \\
  --min-capacity 0 \\
  --suspended-state DynamicScalingInSuspended=true,DynamicScalingOutSuspended=true,ScheduledScalingSuspended=true \\
  --region eu-central-1 \\
  --profile okta-sso"""
OPTION4_TARGET = [["sandbox-broker", 2, 2], ["sandbox-broker-worker", 0, 0]]  # Option 4's monitor, done


def one_primary_settled(deployments: list[dict[str, Any]]) -> bool:
    """The runbook's verification: only 1 PRIMARY deployment with runningCount = desiredCount (> 0)."""
    return (len(deployments) == 1 and deployments[0]["status"] == "PRIMARY"
            and deployments[0]["runningCount"] == deployments[0]["desiredCount"] > 0
            and deployments[0].get("rolloutState") == "COMPLETED")


def aws_argv(command: str, aws: str) -> list[str]:
    """A runbook command's text (with ``\\`` continuations) as argv for the CLI at ``aws``."""
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[0] == "aws", command
    return [aws, *argv[1:]]


def isolated_env(home: Path) -> dict[str, str]:
    """This process's environment without real AWS config, credentials or INVOKE_ overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INVOKE_", "SANDBOX_BROKER"))}
    env.update({"HOME": str(home), "AWS_CONFIG_FILE": str(home / "aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"), "AWS_EC2_METADATA_DISABLED": "true"})
    return env


def cli_env(world: Any, home: Path) -> dict[str, str]:
    """The AWS CLI as the runbook runs it (profile okta-sso, static test keys) pointed at ``world``."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "aws-config").write_text("[profile okta-sso]\nregion = eu-central-1\noutput = json\n")
    (home / "aws-credentials").write_text(
        "[okta-sso]\naws_access_key_id = AKIASANDBOXTEST00001\naws_secret_access_key = sandbox-test\n")
    return dict(isolated_env(home), AWS_ENDPOINT_URL=world.aws_endpoint)


def toolkit_env(world: Any, home: Path, poll: tuple[float, float] | None = None, timeout: float = 120) -> dict[str, str]:
    """`inv` against ``world``: its endpoint, role session keys, token and webhook, no profile, its API
    URL, diagnostics in ``home``; ``poll`` = (first, max) wait interval (None: the toolkit's defaults)."""
    env = isolated_env(home)
    env.update({k: v for k, v in world.env().items()
                if k.startswith("AWS_") or k in ("SANDBOX_BROKER_API_TOKEN", "SANDBOX_BROKER_ROLLBACK_WEBHOOK")})
    env.update({"INVOKE_AWS_PROFILE": "", "INVOKE_API_URL": world.api_url,
                "INVOKE_CAPTURE_DIR": str(home / "diagnostics"), "INVOKE_WAIT_TIMEOUT": str(int(timeout))})
    if poll is not None:
        env.update({"INVOKE_WAIT_POLL": str(poll[0]), "INVOKE_WAIT_POLL_MAX": str(poll[1])})
    return env
