import * as iam from 'aws-cdk-lib/aws-iam';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { clusterPk } from '../agent/keys.js';

/**
 * The grants of squirrel's roles, action by action: each names what calls it and on what. None
 * uses a wildcard action; resources are the cluster's own prefix, items and key.
 */

/** The S3 calls of agent/store/s3-chunk-store.ts and the base backups: written once, read back, pruned. */
export const agentObjectActions = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];
/** The DynamoDB calls of agent/store/dynamo-state-store.ts (no scans, no batches). */
export const stateItemActions = ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'];
/** SSE-KMS: uploads ask for a data key, downloads (and multipart completion) decrypt it. */
export const keyActions = ['kms:Decrypt', 'kms:GenerateDataKey'];

export function grantAgentStorage(grantee: iam.IGrantable, on: { bucket: s3.IBucket; key?: kms.IKey; clusterPrefix: string }): void {
  iam.Grant.addToPrincipal({ grantee, actions: agentObjectActions, resourceArns: [on.bucket.arnForObjects(`${on.clusterPrefix}*`)] });
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [on.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${on.clusterPrefix}*`] } },
    }),
  );
  if (on.key) iam.Grant.addToPrincipal({ grantee, actions: keyActions, resourceArns: [on.key.keyArn] });
}

/** The items of one cluster only: every item's partition key is `clusterPk(clusterId)` (agent/keys.ts). */
export function grantStateItems(grantee: iam.IGrantable, table: dynamodb.ITable, clusterId: string): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: stateItemActions,
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [clusterPk(clusterId)] } },
    }),
  );
}
