export const USAGE = `Usage:
  electrodb-idempotency check --table <name> --prefix <prefix> [options]
  electrodb-idempotency create-table --table <name> [options]

check         checks that a table suits ElectroDynamoAdapter with these options:
              it exists and is ACTIVE, its key matches, TTL is on, and a record
              can be set, read back and deleted under the prefix
create-table  creates such a table (string keys, on-demand billing, TTL on),
              for local development and tests

Options:
  --table <name>       table name (required)
  --prefix <prefix>    key prefix the adapter writes under (check only, required)
  --pk-field <name>    partition key attribute (default: pk)
  --sk-field <name>    sort key attribute (default: sk)
  --no-sk              the table has a partition key only
  --separator <text>   text between the prefix and the cache key (check only, default: #)
  --ttl-field <name>   epoch-second TTL attribute (default: expiresAt)
  --endpoint <url>     DynamoDB endpoint, e.g. http://localhost:8000 for DynamoDB Local
  --region <region>    AWS region (default: from the AWS environment)
  -h, --help           show this help

Credentials come from the AWS environment (variables, profile, SSO, instance role).
Exit status: 0 ok (warnings allowed), 1 a check or request failed, 2 usage error.`;
