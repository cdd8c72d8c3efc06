"""The VPC: one regional subnet with Private Google Access, Cloud NAT, and deny-by-default firewalls."""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

# Google's IAP TCP forwarding range: the only source allowed to reach SSH.
IAP_RANGE = "35.235.240.0/20"


class NetworkArgs(TypedDict):
    project: pulumi.Input[str]
    """Project id."""
    region: pulumi.Input[str]
    """Region of the subnet, router and NAT."""
    subnet_cidr: pulumi.Input[str]
    """Primary range of the subnet used by Composer and Dataproc Serverless."""


class Network(pulumi.ComponentResource):
    """VPC without default subnets; internal traffic and IAP SSH allowed, all other ingress denied."""

    network_id: pulumi.Output[str]
    network_name: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    subnet_self_link: pulumi.Output[str]
    subnet_name: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cdi:network:Network", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        project = args["project"]
        vpc = gcp.compute.Network(
            f"{name}-vpc",
            name=name,
            project=project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description="Customer-analytics pipeline network (Composer, Dataproc Serverless)",
            opts=child,
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            name=f"{name}-main",
            project=project,
            region=args["region"],
            network=vpc.id,
            ip_cidr_range=args["subnet_cidr"],
            private_ip_google_access=True,
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_5_MIN", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
            ),
            opts=child,
        )
        router = gcp.compute.Router(
            f"{name}-router",
            name=f"{name}-router",
            project=project,
            region=args["region"],
            network=vpc.id,
            opts=child,
        )
        gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{name}-nat",
            project=project,
            region=args["region"],
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[
                gcp.compute.RouterNatSubnetworkArgs(
                    name=subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"]
                )
            ],
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child,
        )
        # Deny by default: an explicit lowest-priority deny makes the rule visible and logged.
        gcp.compute.Firewall(
            f"{name}-deny-all-ingress",
            name=f"{name}-deny-all-ingress",
            project=project,
            network=vpc.id,
            direction="INGRESS",
            priority=65534,
            denies=[gcp.compute.FirewallDenyArgs(protocol="all")],
            source_ranges=["0.0.0.0/0"],
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
            opts=child,
        )
        # Dataproc Serverless executors talk to each other on any port inside the subnet.
        gcp.compute.Firewall(
            f"{name}-allow-internal",
            name=f"{name}-allow-internal",
            project=project,
            network=vpc.id,
            direction="INGRESS",
            priority=1000,
            allows=[
                gcp.compute.FirewallAllowArgs(protocol="tcp"),
                gcp.compute.FirewallAllowArgs(protocol="udp"),
                gcp.compute.FirewallAllowArgs(protocol="icmp"),
            ],
            source_ranges=[args["subnet_cidr"]],
            opts=child,
        )
        gcp.compute.Firewall(
            f"{name}-allow-iap-ssh",
            name=f"{name}-allow-iap-ssh",
            project=project,
            network=vpc.id,
            direction="INGRESS",
            priority=1000,
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=["22"])],
            source_ranges=[IAP_RANGE],
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
            opts=child,
        )
        self.network_id = vpc.id
        self.network_name = vpc.name
        self.subnet_id = subnet.id
        self.subnet_self_link = subnet.self_link
        self.subnet_name = subnet.name
        self.register_outputs(
            {
                "network_id": self.network_id,
                "network_name": self.network_name,
                "subnet_id": self.subnet_id,
                "subnet_self_link": self.subnet_self_link,
                "subnet_name": self.subnet_name,
            }
        )
