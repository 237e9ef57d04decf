"""Training (``LinkEngine``'s component, as Splink's ``linker.training``): the model given to
Splink in the backend's dialect, u from a sample chosen here, EM sessions and labels."""

from __future__ import annotations

import json
import logging
import math

import pandas as pd
from splink import Linker
from splink.internals.exceptions import EMTrainingException

from linkage.link import spec
from linkage.link.backends import MODEL_DIALECT, DuckDBBackend
from linkage.link.bounds import bounded_model
from linkage.link.engine_input import INPUT
from linkage.link.uestimate import estimate_u, matching_pairs, model_narrowed, model_widened
from linkage.store import registered

__all__ = ["Training"]


class Training:
    """The model and its training (a ``LinkEngine`` component)."""

    def _settings(self, model_json: str | None):
        """The model to give Splink: ``model_json`` (else the spec), said in the backend's dialect."""
        settings = json.loads(model_json) if model_json else spec.settings(self.link_type, self.postcode_is_area)
        if not isinstance(settings, dict):
            settings = settings.get_settings(MODEL_DIALECT).as_dict()
        if self.backend.sql_dialect != MODEL_DIALECT:
            self._model = settings
            return self.backend.model_for_backend(settings)
        # Splink runs the levels narrowed (the same conditions, tested faster: ``uestimate.narrowed``);
        # the model leaves the engine as written (``_store_dialect``).
        return model_narrowed(settings)

    def linker(self, model_json: str | None = None) -> Linker:
        if self._linker is None:
            # Splink's validation only logs (at WARNING, below the ERROR its loggers are held to here)
            # and costs a second of SQL parsing on every linker: never run.
            self._linker = Linker(self._input_frames(), self._settings(model_json), log_level=logging.ERROR,
                                  validate_settings=False)
        return self._linker

    def _store_dialect(self, linker: Linker) -> str:
        trained = model_widened(linker.misc.save_model_to_json())
        if self._model is not None:
            trained = self.backend.model_from_backend(trained, self._model)
        return json.dumps(trained, sort_keys=True)

    def model_json(self) -> str:
        """The current model as JSON in the store's dialect, whichever backend trained it."""
        return self._store_dialect(self.linker())

    def train(self, max_pairs: float = 2e6, labels: list[tuple[str, str]] | None = None) -> str:
        """Unsupervised training; ``labels`` (pairs a reviewer confirmed as one child), when given,
        then re-estimate each comparison's m probabilities from those pairs (Splink's
        ``estimate_m_from_pairwise_labels``), keeping u from the sample (``_estimate_u``).
        Nothing here samples at random: every backend trains the same model from the same records."""
        self._linker = None
        linker = self.linker(self._estimate_u(max_pairs))
        self._tf()      # EM would otherwise compute them by Splink's slower path; the values are the same
        self._estimate_prior(linker, spec.DETERMINISTIC_RULES, recall=0.8)
        prior = linker._settings_obj._probability_two_random_records_match
        if not 0 < prior < 1:  # no deterministic matches yet (e.g. one source): one duplicate per record
            linker._settings_obj._probability_two_random_records_match = 1 / max(self.count(), 2)
        trained = [self._em(rule) for rule in spec.TRAINING_SESSIONS]
        if not any(trained[:2]):
            # No shared identifiers to anchor on (e.g. a single source so far).
            for rule in spec.FALLBACK_SESSIONS:
                self._em(rule)
        if labels:
            self.linker().training.estimate_m_from_pairwise_labels(self.labels_table(labels))
        # EM may have made one field's disagreement a veto: bounded (``bounds``), and predicted with.
        learnt = self.model_json()
        model = bounded_model(learnt)
        if model is not learnt:      # only a bounded model needs a linker of its own
            self._linker = None
            self.linker(model)
        return model

    def _estimate_prior(self, linker: Linker, rules: list[str], recall: float) -> None:
        """Splink's ``estimate_probability_two_random_records_match``: the pairs the deterministic
        ``rules`` hold for, over ``recall``, against every pair; counted in the store's DuckDB
        from group sizes (``uestimate.matching_pairs``) rather than by building each pair, to the
        same float. Left as it was when they count more than ``recall`` allows (Splink refuses)."""
        observed = matching_pairs(self.con, f"memory.{INPUT}", rules) if self.link_type != "link_only" else None
        if observed is None:        # a rule that is not equalities, or pairs across sources only: Splink's
            try:
                linker.training.estimate_probability_two_random_records_match(rules, recall=recall)
            except ValueError:
                pass
            return
        n = self.count()
        total = n * (n - 1) / 2             # ``splink.internals.misc.calculate_cartesian``
        if total and not observed > total * recall:
            linker._settings_obj._probability_two_random_records_match = observed / recall / total

    def _estimate_u(self, max_pairs: float) -> str:
        """The model with u estimated from every pair of a sample we choose: the records first by
        a hash of their key, as many as give ``max_pairs`` pairs. Splink's own sample and its chunks
        select rows by the engine's ``hash()``, which DuckDB and Spark compute differently, so
        one population would train two models; here the sample is chosen, and its pairs counted
        (``uestimate``: one pass where Splink makes one per comparison), in the store's DuckDB
        whatever the backend."""
        rows = math.ceil(0.5 * ((8 * max_pairs + 1) ** 0.5 + 1))  # n(n-1)/2 >= max_pairs, as Splink sizes it
        self.con.execute(f"CREATE OR REPLACE TABLE memory.u_sample AS SELECT * FROM memory.{INPUT} "
                         f"ORDER BY md5('u-sample|' || unique_id), unique_id LIMIT {rows}")
        frames = self._frames_of("memory.u_sample", "us", local=DuckDBBackend().bind(self.con))
        linker = Linker(frames, spec.settings(self.link_type, self.postcode_is_area),
                        log_level=logging.ERROR, validate_settings=False)
        estimate_u(self.con, linker._settings_obj, "memory.u_sample")
        linker._populate_m_u_from_trained_values()
        return json.dumps(linker.misc.save_model_to_json(), sort_keys=True)

    def labels_table(self, pairs: list[tuple[str, str]], scores: list[float] | None = None):
        """Register pairs of current records as a Splink labels table."""
        known = set(self.nodes())
        rows = [(a, b, s) for (a, b), s in zip(pairs, scores or [1.0] * len(pairs)) if a in known and b in known]
        frame = pd.DataFrame({
            "source_dataset_l": [a.split(":", 1)[0] for a, _, _ in rows], "unique_id_l": [a for a, _, _ in rows],
            "source_dataset_r": [b.split(":", 1)[0] for _, b, _ in rows], "unique_id_r": [b for _, b, _ in rows],
            "clerical_match_score": [s for _, _, s in rows]})
        with registered(self.con, _labels_df=frame):
            labels = self._register("SELECT * FROM _labels_df", "review_labels", view=False)
        return self.linker().table_management.register_labels_table(labels)

    def _em(self, rule) -> bool:
        """One EM session; on no pairs, or EM collapsing (no matches), the model is restored."""
        snapshot = self.model_json()
        try:
            self.linker().training.estimate_parameters_using_expectation_maximisation(
                rule, fix_u_probabilities=True)
            return True
        except (EMTrainingException, ValueError):
            self._linker = None
            self.linker(snapshot)
            return False
