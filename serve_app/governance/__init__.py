"""Governance: tiers and quotas, admission in the ingress, the metering actor and its ledger."""
