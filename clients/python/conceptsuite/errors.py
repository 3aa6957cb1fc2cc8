"""SuiteError: every failure of a call, with the gRPC status name and the request field at fault."""
import contextlib
import re

import grpc

# "field: rule", the server's INVALID_ARGUMENT form (fields like config.dictionaries[0].options.k).
_FIELD_RULE = re.compile(r"^([A-Za-z_][\w.\[\]-]*): (.+)$", re.S)
# The gateway's step errors start with the .NET status name ("InvalidArgument: ...").
_DOTNET_STATUS = re.compile(r"^([A-Z][A-Za-z]+): (.+)$", re.S)
_BY_VALUE = {s.value[0]: s for s in grpc.StatusCode}


class SuiteError(Exception):
    """A call failed. status: the gRPC status name ("INVALID_ARGUMENT", "NOT_FOUND", ...); code: the
    grpc.StatusCode; field: the request field the server named (empty when none); rule: what was wrong."""

    def __init__(self, code, message, field=""):
        self.code = code
        self.status = code.name
        self.message = message
        if not field:
            m = _FIELD_RULE.match(message or "")
            field, rule = (m.group(1), m.group(2)) if m else ("", message)
        else:
            rule = message[len(field) + 2:] if message.startswith(field + ": ") else message
        self.field = field
        self.rule = rule
        super().__init__(f"{self.status}: {message}")

    @classmethod
    def from_rpc(cls, e):
        return cls(e.code(), e.details() or "")

    @classmethod
    def from_job(cls, error):
        """From a JobEvent's JobError (code is the numeric gRPC status)."""
        return cls(_BY_VALUE.get(error.code, grpc.StatusCode.UNKNOWN), error.message, error.field)

    @classmethod
    def from_step(cls, text):
        """From a workflow step's error text ("InvalidArgument: field: rule" or "field: rule")."""
        m = _DOTNET_STATUS.match(text or "")
        if m:
            name = re.sub(r"(?<!^)(?=[A-Z])", "_", m.group(1)).upper()
            if name in grpc.StatusCode.__members__:
                return cls(grpc.StatusCode[name], m.group(2))
        return cls(grpc.StatusCode.INVALID_ARGUMENT if _FIELD_RULE.match(text or "") else grpc.StatusCode.UNKNOWN, text or "")


class WorkflowError(SuiteError):
    """A workflow ended failed or cancelled. workflow: its WorkflowInfo; step: the failed step's name."""

    def __init__(self, info, step, base):
        super().__init__(base.code, base.message, base.field)
        self.workflow = info
        self.step = step
        self.args = (f"workflow {info.id} step '{step}': {self.status}: {base.message}",)


@contextlib.contextmanager
def translated():
    """Turns grpc.RpcError raised inside into SuiteError."""
    try:
        yield
    except grpc.RpcError as e:
        raise SuiteError.from_rpc(e) from None


def stream(responses):
    """Iterates a response stream, turning grpc.RpcError into SuiteError."""
    with translated():
        yield from responses
