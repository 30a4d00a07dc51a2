"""The naive loop `make bench` measures the pipeline against (issue 20): read a contacts CSV from
S3 with csv.DictReader, keep the last row of each valid lower-cased e-mail, and write them with
boto3's batch_writer. No preview, no stats, no exactly-once, no revert: what a script does.

    AWS_ENDPOINT_URL=... python bench/batch_writer.py FILE

Creates a bucket and a table of its own on the emulator, uploads FILE (not timed), then times
the read and the writes, and prints {"seconds": ..., "items": ...} as one JSON line.
"""

import csv
import io
import json
import os
import re
import sys
import time
import uuid

import boto3

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def main(path: str) -> None:
    name = f"naive-{uuid.uuid4().hex[:12]}"
    # The SDKs read AWS_REGION; boto3 reads AWS_DEFAULT_REGION.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    s3 = boto3.client("s3", region_name=region)
    dynamodb = boto3.resource("dynamodb", region_name=region)
    s3.create_bucket(Bucket=name)
    with open(path, "rb") as f:
        s3.put_object(Bucket=name, Key="source.csv", Body=f.read())
    table = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()

    started = time.monotonic()
    body = s3.get_object(Bucket=name, Key="source.csv")["Body"]
    rows = {}
    for row in csv.DictReader(io.TextIOWrapper(body, encoding="utf-8", newline="")):
        email = (row.get("Email Address") or "").strip().lower()
        if EMAIL.match(email):
            rows[email] = row
    with table.batch_writer() as batch:
        for email, row in rows.items():
            item = {k: v for k, v in row.items() if k and v}
            item.update(pk="bench#contact", sk=email)
            batch.put_item(Item=item)
    seconds = time.monotonic() - started
    print(json.dumps({"seconds": seconds, "items": len(rows)}))


if __name__ == "__main__":
    main(sys.argv[1])
