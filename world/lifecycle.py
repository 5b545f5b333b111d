"""Run every scenario of the lifecycle world and print its timeline; exit 1 if any fails.

scripts/lifecycle                               # starts the function's own gRPC server
scripts/lifecycle --function-address HOST:PORT  # a function already serving insecure gRPC
scripts/lifecycle -k day-2                      # only the scenarios whose name contains this
"""

from __future__ import annotations

import argparse
import sys

from world.scenarios import SCENARIOS
from world.world import World, aws, running_function


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--function-address", help="HOST:PORT of a function serving insecure gRPC")
    parser.add_argument("-k", default="", help="run only scenarios whose name contains this")
    args = parser.parse_args()
    failed = []
    with running_function(args.function_address) as address:
        for name, (scenario, namespaced) in SCENARIOS.items():
            if args.k not in name:
                continue
            print(f"\n##### {name}")
            with aws():
                steps = scenario(World(address, namespaced))
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
