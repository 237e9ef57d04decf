"""Record linkage with Splink: the domain model, the engine and a run."""

from linkage.link.evaluate import Scores, load_truth, load_twins, score_clusters
from linkage.link.run import RunResult, resolve_aliases, run_link

__all__ = ["RunResult", "Scores", "load_truth", "load_twins", "resolve_aliases", "run_link", "score_clusters"]
