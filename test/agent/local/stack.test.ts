import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatEnvFile, localEnv, parseEnvFile } from '../../../agent/local/stack.js';

describe('local stack env file', () => {
  it('writes export lines a shell can source, quoting only what needs it, and reads them back', () => {
    const values = { PLAIN: 'http://127.0.0.1:4569', SPACED: "it's a value", EMPTY: '' };
    const text = formatEnvFile(values);
    assert.equal(text, "export PLAIN=http://127.0.0.1:4569\nexport SPACED='it'\\''s a value'\nexport EMPTY=\n");
    assert.deepEqual(parseEnvFile(text), values);
  });

  it('points every squirrel setting and the AWS SDK at the stand-ins', () => {
    const env = localEnv({ s3Endpoint: 'http://s3', dynamodbEndpoint: 'http://ddb', bucket: 'b', table: 't', region: 'us-east-1', clusterId: 'demo' });
    assert.equal(env.SQUIRREL_S3_ENDPOINT, 'http://s3');
    assert.equal(env.SQUIRREL_DYNAMODB_ENDPOINT, 'http://ddb');
    assert.equal(env.AWS_REGION, env.SQUIRREL_REGION);
    assert.equal(env.AWS_ACCESS_KEY_ID, 'S3RVER'); // the only key s3rver accepts
  });
});
