"""Fusion: how the vector arm and the BM25 arm become one ranking.

Reciprocal rank fusion (score = sum of weight / (k + rank)) needs no score
calibration between a cosine distance and a BM25 sum, which live on unrelated
scales that also shift from query to query. Each arm is capped at ARM_DEPTH
candidates before fusion, so one arm's long tail of weak matches cannot
outvote the other arm's top results.

A small k (5 rather than the customary 60) lets the top few ranks of each arm
dominate: on conversation turns both arms are precise at the very top and
noisy below, and k = 5 beat k = 60 by about +0.03 budgeted recall on the tuning
half of REALTALK (docs/RETRIEVAL.md). Equal weights beat favouring either arm:
BM25 catches names, places and titles exactly; the vector arm catches
paraphrases BM25 cannot see.
"""

ARM_DEPTH = 60
RRF_K = 5.0
LEXICAL_WEIGHT = 1.0
VECTOR_WEIGHT = 1.0
