"""Education: DfE school census pupil data as exported by a school MIS."""

from linkage.connectors.base import Connector

__all__ = ["EducationConnector"]


class EducationConnector(Connector):
    source = "education"
