import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Config } from './config.js';
import type { ObjectStore } from './ports/object-store.js';
import type { StateStore } from './ports/state-store.js';
import { DynamoStateStore } from './store/dynamo-state-store.js';
import { S3ObjectStore } from './store/s3-object-store.js';

// The SDK warns on every start that Node 20 support ends in 2027; squirrel already runs on 20 and 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * The one place where ports meet their AWS adapters. Credentials come from the SDK's default
 * chain (AWS_* variables, profiles, instance roles). An endpoint override selects an
 * S3-compatible server (path-style addressing, checksums only where required: some servers would
 * otherwise store the SDK's aws-chunked trailer as part of the body).
 */
/**
 * The SDK's HTTP handler, with every request also aborted by `giveUp`: once a stop gives up, no
 * request (or the SDK's own retry of one) keeps a socket, or the process, alive.
 */
class GiveUpHandler extends NodeHttpHandler {
  constructor(private readonly giveUp: AbortSignal) {
    super();
  }

  override handle(...[request, options = {}]: Parameters<NodeHttpHandler['handle']>) {
    const own = options.abortSignal;
    const abortSignal = own instanceof AbortSignal ? AbortSignal.any([own, this.giveUp]) : this.giveUp;
    return super.handle(request, { ...options, abortSignal });
  }
}

/** Options every client of one process shares. */
export interface ClientOptions {
  /** Aborts every request of the client, now and later (a stop that gave up). */
  giveUp?: AbortSignal;
}

export function s3Client(config: Pick<Config, 'region'> & Partial<Pick<Config, 's3Endpoint'>>, opts: ClientOptions = {}): S3Client {
  return new S3Client({
    region: config.region,
    ...(opts.giveUp ? { requestHandler: new GiveUpHandler(opts.giveUp) } : {}),
    ...(config.s3Endpoint
      ? { endpoint: config.s3Endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
      : {}),
  });
}

export function dynamoClient(config: Pick<Config, 'region'> & Partial<Pick<Config, 'dynamodbEndpoint'>>, opts: ClientOptions = {}): DynamoDBClient {
  return new DynamoDBClient({
    region: config.region,
    ...(opts.giveUp ? { requestHandler: new GiveUpHandler(opts.giveUp) } : {}),
    ...(config.dynamodbEndpoint ? { endpoint: config.dynamodbEndpoint } : {}),
  });
}

export function openObjectStore(config: Pick<Config, 'bucket' | 'region'> & Partial<Pick<Config, 's3Endpoint'>>, opts: ClientOptions = {}): ObjectStore {
  return new S3ObjectStore(s3Client(config, opts), config.bucket);
}

export function openStateStore(config: Pick<Config, 'table' | 'region'> & Partial<Pick<Config, 'dynamodbEndpoint'>>, opts: ClientOptions = {}): StateStore {
  return new DynamoStateStore(dynamoClient(config, opts), config.table);
}
