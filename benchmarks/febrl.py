"""Run linkage's model on the FEBRL data sets through the same engine the pipeline uses.

FEBRL4 is two files to link; FEBRL1, 2 and 3 are one file each, with duplicates to find. They
are Australian (4-digit postcodes, adults), so it cannot pass the English
connectors' validation; it is mapped straight to the engine's record shape.
The social security id plays the part of the NHS number. The two files are
FEBRL4 files are known to hold no internal duplicates, so its link type is ``link_only``, and an
Australian postcode covers a suburb, so ``postcode_is_area`` counts the address
even where postcodes agree.
"""

from __future__ import annotations

from types import SimpleNamespace

import duckdb
import pandas as pd

from linkage.link.cluster import constrained_clusters
from linkage.link.engine import LinkEngine
from linkage.validation import normalise_name


def _records(name: str, df: pd.DataFrame) -> pd.DataFrame:
    def norm(values):
        return [normalise_name(v) if isinstance(v, str) else None for v in values]

    return pd.DataFrame({
        "record_key": name + ":" + df["rec_id"], "source": name,
        "forename_std": norm(df["given_name"]), "middle_names_std": None, "surname_std": norm(df["surname"]),
        "former_surname_std": None, "preferred_forename_std": None,
        "date_of_birth": pd.to_datetime(df["date_of_birth"], format="%Y%m%d", errors="coerce").dt.date,
        "sex": None, "postcode": df["postcode"].astype("string").str.strip(),
        "address": (df["street_number"].fillna("").astype(str) + " " + df["address_1"].fillna("").astype(str)).str.strip(),
        "upn": None, "former_upn": None,
        "nhs_number": df["soc_sec_id"].astype("string").str.replace(" ", "", regex=False),
    })


def link_febrl_with_linkage_model(*files: pd.DataFrame, threshold: float = 0.5) -> dict[str, str]:
    """FEBRL4's two files (``link_only``) or one of FEBRL1-3, each a single file with duplicates
    inside it (deduplicated as the pipeline does a single source, ``link_and_dedupe``)."""
    con = duckdb.connect()
    con.execute("SET memory_limit = '4GB'")
    frame = pd.concat([_records(name, df) for name, df in zip("ab", files)], ignore_index=True)
    for col in ("middle_names_std", "former_surname_std", "preferred_forename_std", "sex", "upn", "former_upn"):
        frame[col] = frame[col].astype("string")
    con.register("febrl_df", frame)
    con.execute("CREATE TABLE febrl_records AS SELECT * FROM febrl_df")
    engine = LinkEngine(SimpleNamespace(connection=con, execute=con.execute), "SELECT * FROM febrl_records",
                        link_type="link_only" if len(files) == 2 else "link_and_dedupe", postcode_is_area=True)
    engine.linker(engine.train())
    edges = engine.predict_full(threshold)
    # FEBRL's social security ids carry typos, so they are evidence, not constraints.
    clusters, _ = constrained_clusters(engine.nodes(), zip(edges["unique_id_l"], edges["unique_id_r"],
                                                           edges["match_weight"]))
    return clusters
