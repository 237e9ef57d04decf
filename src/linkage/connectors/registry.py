"""Which connector reads each source: below ``ingest`` (which picks one), so it needs no late import."""

from linkage.connectors.base import Connector
from linkage.connectors.education import EducationConnector
from linkage.connectors.health import HealthConnector
from linkage.connectors.social_care import SocialCareConnector

__all__ = ["CONNECTORS"]

CONNECTORS: dict[str, type[Connector]] = {
    "education": EducationConnector,
    "social_care": SocialCareConnector,
    "health": HealthConnector,
}
