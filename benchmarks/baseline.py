"""Plain Splink with a generic configuration: the yardstick for bench_link.py.

Names, date of birth and postcode with Splink's default comparisons,
standardised the way a careful analyst would (lower case, parsed dates).
"""

from __future__ import annotations

import pandas as pd
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

__all__ = ["plain_splink"]


def plain_splink(frames: dict[str, pd.DataFrame], threshold: float = 0.5) -> dict[str, str]:
    """frames: source -> columns unique_id, forename, surname, dob (date), postcode. Returns id -> cluster."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET memory_limit = '4GB'")
    db_api = DuckDBAPI(connection=con)
    settings = SettingsCreator(
        link_type="link_and_dedupe" if len(frames) > 1 else "dedupe_only",
        comparisons=[
            cl.NameComparison("forename"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("dob", input_is_string=False),
            cl.PostcodeComparison("postcode"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("forename", "dob"), block_on("surname", "dob"), block_on("postcode"),
            block_on("forename", "surname"),
        ],
    )
    dfs = [db_api.register(df, dataset_display_name=name) for name, df in frames.items()]
    linker = Linker(dfs, settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("forename", "surname", "dob")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("forename", "surname"))
    pred = linker.inference.predict(threshold_match_probability=threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, threshold)
    out = con.execute(f"SELECT unique_id, cluster_id FROM {clusters.physical_name}").fetchall()
    return {str(u): str(c) for u, c in out}
