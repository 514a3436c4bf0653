"""Seed a fresh AWS emulator with what a real account already has: the hosted zone.

(The images for the AMI lookups come from amis.json, loaded by moto at start.)
Usage: seed.py ENDPOINT [ZONE]
"""
import sys

import boto3


def seed(endpoint, zone="ams-local.test"):
    route53 = boto3.client(
        "route53",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    existing = [z["Name"] for z in route53.list_hosted_zones()["HostedZones"]]
    if zone + "." not in existing:
        route53.create_hosted_zone(Name=zone, CallerReference="ams-stack-seed-" + zone)


if __name__ == "__main__":
    endpoint = sys.argv[1]
    zone = sys.argv[2] if len(sys.argv) > 2 else "ams-local.test"
    seed(endpoint, zone)
    print(f"hosted zone {zone} ready at {endpoint}")
