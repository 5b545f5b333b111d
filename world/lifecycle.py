"""Run every scenario of the lifecycle world and print its timeline; exit 1 if any fails.

scripts/lifecycle                               # starts the function's own gRPC server
scripts/lifecycle --function-address HOST:PORT  # a function already serving insecure gRPC
scripts/lifecycle -k day-2                      # only the scenarios whose name contains this
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from world.data import servers
from world.scenarios import SCENARIOS
from world.world import StepResult, World, aws, running_function


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--function-address", help="HOST:PORT of a function serving insecure gRPC")
    parser.add_argument("-k", default="", help="run only scenarios whose name contains this")
    args = parser.parse_args()
    failed = []
    chosen = {name: s for name, s in SCENARIOS.items() if args.k in name}
    with contextlib.ExitStack() as stack:
        address = stack.enter_context(running_function(args.function_address))
        # The SQL servers (scripts/sql-servers installs them) only where a scenario needs them.
        sql = stack.enter_context(servers()) if any(s.sql for s in chosen.values()) else None
        for name, scenario in chosen.items():
            print(f"\n##### {name}", flush=True)
            with aws():
                w = World(address, scenario.namespaced, sql if scenario.sql else None)
                try:
                    scenario.play(w)
                except Exception as err:  # a crash fails this scenario; the others still run
                    crash = f"{type(err).__name__}: {err}"
                    w.timeline.append(StepResult("the scenario crashed", failures=[crash]))
                steps = w.timeline
            for step in steps:
                print(step.render())
            bad = [s.name for s in steps if s.failures]
            print(f"##### {name}: {'FAILED at ' + ', '.join(bad) if bad else 'passed'}")
            if bad:
                failed.append(name)
    print(f"\n{len(failed)} scenario(s) failed" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
