"""The box's SQLite store, photo files and audit log (see DEVELOPERS.md, "Box database")."""

from gateway.store.audit import AuditVerification
from gateway.store.errors import Conflict, InvalidInput, NotFound, StoreError
from gateway.store.jobs import Job
from gateway.store.store import Store
from gateway.store.uploads import UploadResult

__all__ = [
    "AuditVerification",
    "Conflict",
    "InvalidInput",
    "Job",
    "NotFound",
    "Store",
    "StoreError",
    "UploadResult",
]
