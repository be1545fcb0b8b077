"""Errors of the testing library, named as the official testing library's."""
from __future__ import annotations

from typing import Any


class DurableFunctionsLocalRunnerError(Exception):
    """Base class of the local runner's service-side errors."""


class DurableFunctionsTestError(Exception):
    """A test runner could not do what it was asked (an operation not found,
    a callback already answered, a worker failure...)."""


class AwsApiException(DurableFunctionsLocalRunnerError):  # noqa: N818
    """An error the service API would have answered."""

    http_status_code: int = 500

    def to_dict(self) -> dict[str, Any]:
        return {"Type": type(self).__name__, "message": str(self)}


class InvalidParameterValueException(AwsApiException):
    http_status_code = 400

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        return {"Type": "InvalidParameterValueException", "message": self.message}


class ResourceNotFoundException(AwsApiException):
    http_status_code = 404

    def __init__(self, Message: str) -> None:  # noqa: N803  (the API's spelling)
        self.Message = Message
        super().__init__(Message)

    def to_dict(self) -> dict[str, Any]:
        return {"Type": "ResourceNotFoundException", "Message": self.Message}
