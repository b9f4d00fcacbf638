"""AWS Secrets Manager's GetSecretValue / CreateSecret / PutSecretValue, as documented: JSON 1.1
over a SigV4-signed POST, with the service's error shapes."""

from __future__ import annotations

import re
from typing import Any

from fakes.aws_json import Answer, AwsJsonService, error

_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")  # the characters a secret name may use
_NOT_FOUND = ("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")


class SecretsManager(AwsJsonService):
    service = "secretsmanager"

    def __init__(self, access_key: str, region: str) -> None:
        super().__init__(access_key, region)
        self.secrets: dict[str, str] = {}
        self.calls: list[str] = []

    def operation(self, target: str, request: dict[str, Any]) -> Answer:
        operation = target.removeprefix("secretsmanager.")
        self.calls.append(operation)
        name = request.get("SecretId") or request.get("Name") or ""
        if not _NAME.match(name):
            return error("InvalidParameterException", f"invalid secret name {name!r}")
        if operation == "GetSecretValue":
            if name not in self.secrets:
                return error(*_NOT_FOUND)
            value = self.secrets[name]
            return 200, {"Name": name, "SecretString": value, "VersionStages": ["AWSCURRENT"]}
        if operation in ("CreateSecret", "PutSecretValue"):
            if not isinstance(request.get("SecretString"), str):
                return error("InvalidParameterException", "SecretString is required")
            exists = name in self.secrets
            if operation == "CreateSecret" and exists:
                return error("ResourceExistsException", "the secret already exists")
            if operation == "PutSecretValue" and not exists:
                return error(*_NOT_FOUND)
            self.secrets[name] = request["SecretString"]
            return 200, {"Name": name, "VersionId": f"v{len(self.calls)}"}
        return error("UnknownOperationException", f"unknown operation {target}")
