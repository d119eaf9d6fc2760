"""`wandr-pipeline lake status|sync|rebuild`: the analysts' lake by hand, for when doctor or /health says it is
damaged or behind (docs/WAREHOUSE.md, "Healing").

The runs and the sensor heal the lake by themselves (lib/lake.py): a damaged table is rebuilt from the
warehouse by the next sync, and each table syncs what it lacks. These commands do the same at once, over
the whole warehouse rather than one run's videos, and say what they did:

- `status`: each table readable or its damage, videos held, videos behind (exit 1 when doctor would fail);
- `sync`: rebuild damaged tables and bring every table up to the warehouse (`Lake.heal`);
- `rebuild [--table T ...]`: rebuild the named tables from the warehouse even when readable (by default
  the damaged ones), then sync the rest.
"""

from __future__ import annotations

import argparse
import logging

from wandr_pipeline.lib.lake import Lake, TableSync, lake_tables
from wandr_pipeline.lib.storage import storage_for
from wandr_pipeline.settings import Settings

ACTIONS = ("status", "sync", "rebuild")


def add_parser(commands) -> None:
    lake = commands.add_parser("lake", help="check, sync or rebuild the analysts' lake (docs/WAREHOUSE.md)")
    lake.add_argument(
        "action",
        choices=ACTIONS,
        help="status: readable and in step?; sync: rebuild damaged tables and sync every table's lag; "
        "rebuild: rebuild tables from the warehouse (the damaged ones, or those named with --table)",
    )
    lake.add_argument("--table", action="append", choices=lake_tables(), help="a table to rebuild (repeatable)")
    lake.add_argument("--storage", help="storage root (default: WANDR_STORAGE_URI or data/)")


def run_lake_command(args: argparse.Namespace, settings: Settings) -> int:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    lake = Lake.from_settings(storage_for(settings.storage_uri), settings.lake)
    if args.action == "status":
        return print_status(lake, settings.lake_max_behind_videos)
    done: list[TableSync] = []
    if args.action == "rebuild" and args.table:
        for table in dict.fromkeys(args.table):
            done.append(lake.rebuild(table, lake.diagnose(table) or "rebuild requested"))
    done.extend(lake.heal())
    for item in done:
        what = f"rebuilt from the warehouse ({item.rebuilt})" if item.rebuilt else "synced"
        print(f"lake/{item.table}: {what}: {item.videos} video(s), {item.rows} row(s), version {item.version}")
    if not done:
        print("lake/: every table readable and in step with the warehouse; nothing to do")
    return print_status(lake, settings.lake_max_behind_videos)


def print_status(lake: Lake, max_behind: int) -> int:
    ok = True
    for state in lake.inspect():
        if state.damage:
            ok = False
            print(f"DAMAGED  lake/{state.table}: {state.damage}")
        else:
            ok = ok and state.behind <= max_behind
            print(
                f"{'OK' if state.behind <= max_behind else 'BEHIND':<8} lake/{state.table}: "
                f"{state.held} video(s), {state.behind} behind the warehouse"
            )
    return 0 if ok else 1
