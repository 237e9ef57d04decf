"""The consent register, modelled on the FHIR Consent resource."""

from linkage.consent.register import ConsentRecord, ConsentRegister, ConsentState, Recipient, org_key

__all__ = ["ConsentRecord", "ConsentRegister", "ConsentState", "Recipient", "org_key"]
