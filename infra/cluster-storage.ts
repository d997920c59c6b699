import { Duration, RemovalPolicy, Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { stagingPrefix } from '../agent/keys.js';
import { grantAgentStorage, grantStateItems } from './perms.js';

export interface ClusterStorageProps {
  /** The cluster whose prefix and items this storage holds. */
  readonly clusterId: string;
  /** The key prefix of the cluster's objects (`SQUIRREL_PREFIX`): empty, or ending in `/`. @default '' */
  readonly prefix?: string;
  /**
   * An existing bucket for chunks and base backups, instead of a new one. Its encryption, logging
   * and lifecycle are then its owner's.
   * @default a new bucket (SSE-KMS with a customer managed key, TLS only, versioned, logged)
   */
  readonly bucket?: s3.IBucket;
  /** The key of an existing `bucket`'s SSE-KMS encryption, which the agent must be able to use. @default none (SSE-S3) */
  readonly bucketKey?: kms.IKey;
  /** An existing state table (partition key `pk`, sort key `sk`, both strings). @default a new table */
  readonly table?: dynamodb.ITable;
  /**
   * Object Lock on a new bucket, with this default retention: chunks and base backups cannot be
   * deleted or overwritten before it runs out (pruning then keeps them at least that long).
   * @default no Object Lock
   */
  readonly objectLockRetention?: s3.ObjectLockRetention;
  /** Large transactions' staging uploads (`<prefix><clusterId>/staging/`) left behind expire after this. @default 7 days */
  readonly stagingExpiry?: Duration;
  /** Incomplete multipart uploads are aborted after this. @default 2 days */
  readonly abortIncompleteUploadsAfter?: Duration;
  /** Where the new bucket's server access logs go. @default a new log bucket */
  readonly accessLogsBucket?: s3.IBucket;
}

/**
 * Where a cluster's data lives: the bucket of binlog chunks and base backups (one prefix per
 * cluster) and the table of the cluster's state and epochs, each created or given.
 */
export class ClusterStorage extends Construct {
  readonly bucket: s3.IBucket;
  /** The key encrypting `bucket`, when it is SSE-KMS. */
  readonly key?: kms.IKey;
  readonly table: dynamodb.ITable;
  /** The cluster's key prefix in `bucket`: `<prefix><clusterId>/`. */
  readonly clusterPrefix: string;

  constructor(scope: Construct, id: string, private readonly props: ClusterStorageProps) {
    super(scope, id);
    const prefix = props.prefix ?? '';
    this.clusterPrefix = `${prefix}${props.clusterId}/`;

    if (props.bucket) {
      this.bucket = props.bucket;
      this.key = props.bucketKey;
    } else {
      const key = new kms.Key(this, 'Key', {
        description: `squirrel ${props.clusterId}: chunks and base backups`,
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      const logs = props.accessLogsBucket ?? this.logBucket();
      this.bucket = new s3.Bucket(this, 'Bucket', {
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: key,
        bucketKeyEnabled: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        versioned: true,
        objectLockEnabled: props.objectLockRetention !== undefined,
        objectLockDefaultRetention: props.objectLockRetention,
        serverAccessLogsBucket: logs,
        serverAccessLogsPrefix: 'data/',
        lifecycleRules: [
          { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: props.abortIncompleteUploadsAfter ?? Duration.days(2) },
          {
            id: 'ExpireStaging',
            prefix: stagingPrefix(prefix, props.clusterId),
            expiration: props.stagingExpiry ?? Duration.days(7),
            noncurrentVersionExpiration: Duration.days(1),
          },
        ],
        removalPolicy: RemovalPolicy.RETAIN,
      });
      this.key = key;
    }

    // the keys are the contract with agent/store/dynamo-state-store.ts
    this.table =
      props.table ??
      new dynamodb.Table(this, 'State', {
        partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
        sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        deletionProtection: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
  }

  /**
   * The agent's access: objects under its cluster's prefix, its cluster's items, the bucket's key.
   * The prefix's `/*` is acknowledged on the grantee when it is a construct of this app.
   */
  grantAgent(grantee: iam.IGrantable): void {
    grantAgentStorage(grantee, { bucket: this.bucket, key: this.key, clusterPrefix: this.clusterPrefix });
    grantStateItems(grantee, this.table, this.props.clusterId);
    if (grantee.grantPrincipal instanceof Construct) {
      const cfn = this.bucket.node.defaultChild as CfnElement | undefined;
      // how cdk-nag renders the ARN: a logical id for our bucket, the partition token for a given one
      const bucketArn = cfn ? `<${Stack.of(cfn).getLogicalId(cfn)}.Arn>` : `arn:<AWS::Partition>:s3:::${this.bucket.bucketName}`;
      Validations.of(grantee.grantPrincipal).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${bucketArn}/${this.clusterPrefix}*]`,
        reason: "The agent writes new chunk and backup keys under its own cluster's prefix only; object keys are not known at deploy time.",
      });
    }
  }

  /** The control plane's access: its cluster's items of the state table. */
  grantControlPlane(grantee: iam.IGrantable): void {
    grantStateItems(grantee, this.table, this.props.clusterId);
  }

  private logBucket(): s3.Bucket {
    const logs = new s3.Bucket(this, 'AccessLogs', {
      // S3 server access logging delivers only to SSE-S3 buckets
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ id: 'ExpireLogs', expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(logs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log bucket of the data bucket; logging it into itself would log its own log deliveries without end.',
    });
    return logs;
  }
}
