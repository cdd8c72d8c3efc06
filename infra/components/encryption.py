"""Customer-managed encryption keys (CMEK): one key for the data location, one for the region.

`data` encrypts the buckets and BigQuery datasets in the data (multi-)region; `regional` encrypts
what lives in the compute region (Composer, its bucket, Pub/Sub, the Dataproc history server).
The service agents that use a key get `cryptoKeyEncrypterDecrypter` on that key only, from
`iam/bindings.yaml` (scope `crypto_key/<key>`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from infra.iamdata import IamData

ROTATION_PERIOD = "7776000s"  # 90 days


class EncryptionArgs(TypedDict):
    project: pulumi.Input[str]
    """Project id."""
    data_location: str
    """Cloud KMS location of the data key, e.g. `europe` for the EU multi-region."""
    region: str
    """Cloud KMS location of the regional key, e.g. `europe-west1`."""
    labels: Mapping[str, str]
    """Labels of the keys."""
    iam: IamData
    """The parsed IAM data file."""
    members: Mapping[str, pulumi.Input[str]]
    """Member key -> IAM member string (from `Identity.members`)."""
    prevent_destroy: bool
    """Protect the keys (prod): destroying a key destroys the data it encrypts."""


class Encryption(pulumi.ComponentResource):
    """Key rings and keys; `key_ids` maps `data` / `regional` to the key resource id."""

    key_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: EncryptionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cdi:encryption:Encryption", name, {}, opts)
        locations = {"data": args["data_location"], "regional": args["region"]}
        keys: dict[str, gcp.kms.CryptoKey] = {}
        for key, location in locations.items():
            ring = gcp.kms.KeyRing(
                f"{name}-{key}-ring",
                project=args["project"],
                name=f"{name}-{key}",
                location=location,
                opts=pulumi.ResourceOptions(parent=self, protect=args["prevent_destroy"]),
            )
            keys[key] = gcp.kms.CryptoKey(
                f"{name}-{key}-key",
                name=f"{name}-{key}",
                key_ring=ring.id,
                purpose="ENCRYPT_DECRYPT",
                rotation_period=ROTATION_PERIOD,
                labels=dict(args["labels"]),
                deletion_policy="PREVENT" if args["prevent_destroy"] else "DELETE",
                opts=pulumi.ResourceOptions(parent=self, protect=args["prevent_destroy"]),
            )
        # Resources encrypted with a key depend on this component, so on these grants too.
        for binding in args["iam"].bindings_for("crypto_key"):
            gcp.kms.CryptoKeyIAMMember(
                f"{name}-{binding.slug}",
                crypto_key_id=keys[binding.target].id,
                role=binding.role,
                member=args["members"][binding.member],
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.key_ids = {key: crypto_key.id for key, crypto_key in keys.items()}
        self.register_outputs({"key_ids": self.key_ids})
