"""Every warehouse column has the one-line description the Dagster catalog shows (lib/column_docs.py)."""

from wandr_pipeline.lib.column_docs import COLUMN_DOCS
from wandr_pipeline.lib.schemas import SIDE_TABLES, TABLES


def test_every_column_of_every_table_is_described():
    undescribed = {
        table: sorted(set(schema.names) - set(COLUMN_DOCS.get(table, {})))
        for table, schema in {**TABLES, **SIDE_TABLES}.items()
    }
    assert not {table: names for table, names in undescribed.items() if names}


def test_no_description_names_a_column_that_does_not_exist():
    stale = {
        table: sorted(set(docs) - set({**TABLES, **SIDE_TABLES}[table].names)) for table, docs in COLUMN_DOCS.items()
    }
    assert not {table: names for table, names in stale.items() if names}
