"""One router per page or task; each calls the service layer with ``staff.ctx(purpose)``."""
