"""The ``linkage`` command, assembled from one module per group of commands.

Each module holds its commands (and its sub-commands' Typer app); this one only puts them on
``app`` in the order ``linkage --help`` lists them. Shared helpers are in ``common``, table,
CSV and JSON output in ``output``.
"""

from __future__ import annotations

from linkage.cli import access, audit, consent, datadir, demo, ingest, link, outcomes, reference, review, serve, users
from linkage.cli.common import App, _private_files

__all__ = ["app", "main"]

app = App(no_args_is_help=True, add_completion=False,
          help="Link children's records across agencies into one pseudonymous identifier.")
app.callback()(_private_files)

for _name, _command in (("synth", demo.synth), ("ingest", ingest.ingest), ("link", link.link),
                        ("publish", link.publish), ("export-ids", link.export_ids), ("evaluate", link.evaluate),
                        ("vacuum", datadir.vacuum), ("resolve", link.resolve), ("findings", link.findings),
                        ("status", datadir.status), ("demo", demo.demo), ("changes", link.changes),
                        ("serve", serve.serve)):
    app.command(_name)(_command)

for _name, _group in (("orgs", access.orgs_app), ("clients", access.clients_app), ("audit", audit.audit_app),
                      ("state", audit.state_app), ("quarantine", ingest.quarantine_app),
                      ("reference", reference.reference_app), ("outcomes", outcomes.outcomes_app),
                      ("review", review.review_app), ("quality", review.quality_app), ("users", users.users_app),
                      ("consent", consent.consent_app)):
    app.add_typer(_group, name=_name)


def main() -> None:  # pragma: no cover
    app()
