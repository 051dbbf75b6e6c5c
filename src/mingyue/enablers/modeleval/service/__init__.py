"""modeleval use cases: run an evaluation, store it, sign it, read it back; registered models
and their cards; trial chat with quotas and metering; feedback and the probes made of it."""

from mingyue.enablers.modeleval.service.feedback import (
    create_probe,
    get_feedback,
    give_feedback,
    list_feedback,
    list_probes,
    org_probes,
)
from mingyue.enablers.modeleval.service.hosting import (
    check_endpoint,
    delete_model,
    get_model,
    list_models,
    model_card,
    register_model,
    update_model,
)
from mingyue.enablers.modeleval.service.run_jobs import run_evaluation_job, start_run
from mingyue.enablers.modeleval.service.runs import (
    RunOut,
    evaluate_endpoint,
    get_run,
    list_runs,
    record_run,
    run_records,
)
from mingyue.enablers.modeleval.service.trial import (
    PendingCall,
    call_model,
    chat,
    finish_message,
    get_conversation,
    list_conversations,
    quota_of,
    save_partial,
    send_message,
    set_quota,
    start_conversation,
    stream_reply,
)

__all__ = [
    "PendingCall",
    "RunOut",
    "call_model",
    "chat",
    "check_endpoint",
    "create_probe",
    "delete_model",
    "evaluate_endpoint",
    "finish_message",
    "get_conversation",
    "get_feedback",
    "get_model",
    "get_run",
    "give_feedback",
    "list_conversations",
    "list_feedback",
    "list_models",
    "list_probes",
    "list_runs",
    "model_card",
    "org_probes",
    "quota_of",
    "record_run",
    "register_model",
    "run_evaluation_job",
    "run_records",
    "save_partial",
    "send_message",
    "set_quota",
    "start_conversation",
    "start_run",
    "stream_reply",
    "update_model",
]
