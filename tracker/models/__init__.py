"""SQLAlchemy models; importing this module registers every table on the metadata."""

from tracker.models.alert import Alert
from tracker.models.audit import AuditEvent
from tracker.models.client import AccessToken, ApiClient, UsedAssertion
from tracker.models.export import ExportJob
from tracker.models.login_session import LoginSession
from tracker.models.notification import (
    Notification,
    NotificationKind,
    NotificationStatus,
    QuestionnaireLink,
    QueueSchedule,
    QueueTask,
    QueueValue,
)
from tracker.models.patient import CareTeamMember, Patient, PatientIdentifier
from tracker.models.plan import MeasurementPlan
from tracker.models.response import Response
from tracker.models.series import TreatmentSeries, TreatmentSession
from tracker.models.throttle import LoginThrottle
from tracker.models.user import User

__all__ = [
    "AccessToken",
    "ApiClient",
    "ExportJob",
    "UsedAssertion",
    "Alert",
    "AuditEvent",
    "CareTeamMember",
    "LoginSession",
    "LoginThrottle",
    "MeasurementPlan",
    "Notification",
    "NotificationKind",
    "NotificationStatus",
    "Patient",
    "PatientIdentifier",
    "QueueSchedule",
    "QueueTask",
    "QueueValue",
    "QuestionnaireLink",
    "Response",
    "TreatmentSeries",
    "TreatmentSession",
    "User",
]
