"""load_grda's registry: an unknown name is an UnknownDatasetError naming the GRDA datasets (was a TypeError)."""

from __future__ import annotations

import pytest

from graphlearn.data import UnknownDatasetError
from graphlearn.data.grda import DATASETS, load_grda


def test_unknown_grda_name_lists_the_grda_datasets(tmp_path):
    with pytest.raises(UnknownDatasetError) as exc:
        load_grda("tpt48ew", root=tmp_path)
    assert str(exc.value) == (
        "unknown GRDA dataset 'tpt48ew' (did you mean 'tpt48-ew'?); valid names: dg15, dg60, tpt48-ew, tpt48-ns; "
        "or a path to a user table (.npz, .csv, .tsv, .parquet, .pq)"
    )
    assert exc.value.name == "tpt48ew" and exc.value.valid == list(DATASETS)
    assert isinstance(exc.value, ValueError)
