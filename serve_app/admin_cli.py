"""Admin tasks from a shell, against a running platform, with ``LLMAAS_ADMIN_TOKEN``.

    python -m serve_app.admin_cli create-key my-app [--tier starter] [--owner team-a] [--organisation org_acme]
    make key NAME=my-app [ORG=org_acme]                   # the same, from the checkout

Prints the new key's secret (shown only this once) on a line of its own.
"""

from __future__ import annotations

import argparse
import sys

import httpx

from serve_app import tls
from serve_app.settings import Settings


def create_key(settings: Settings, name: str, tier: str | None, owner: str | None,
               organisation: str | None = None) -> int:
    if not settings.admin_token:
        print("Set LLMAAS_ADMIN_TOKEN to the admin token the platform runs with.", file=sys.stderr)
        return 2
    body = {"name": name, **({"tier": tier} if tier else {}), **({"owner": owner} if owner else {}),
            **({"organisation": organisation} if organisation else {})}
    url = f"{settings.own_url}/admin/v1/keys"
    try:
        answer = httpx.post(url, json=body, timeout=30, verify=tls.probe_verify(settings),
                            headers={"Authorization": f"Bearer {settings.admin_token}"})
    except httpx.HTTPError as error:
        print(f"The platform does not answer at {settings.own_url} ({error}). Is `make serve` running?",
              file=sys.stderr)
        return 1
    if answer.status_code != 200:
        message = answer.json().get("error", {}).get("message", answer.text) if answer.content else answer.text
        print(f"The key was not created ({answer.status_code}): {message}", file=sys.stderr)
        return 1
    key = answer.json()
    print(f"Created key {key['id']} ({key['name']}, tier {key.get('tier')}, organisation "
          f"{key.get('organisation_id')}). Its secret, shown only now:")
    print(key["key"])
    print(f"Use it with the openai SDK: OpenAI(base_url=\"{settings.own_url}/v1\", api_key=\"{key['key']}\")")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serve_app.admin_cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-key", help="create an API key and print its secret")
    create.add_argument("name")
    create.add_argument("--tier", help="a tier of tiers.yaml (default: the default tier)")
    create.add_argument("--owner", help="who the key is for (free text)")
    create.add_argument("--organisation", help="the organisation the key belongs to (default: org_default)")
    args = parser.parse_args(argv)
    return create_key(Settings.from_env().resolved(), args.name, args.tier, args.owner, args.organisation)


if __name__ == "__main__":
    sys.exit(main())
