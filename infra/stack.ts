import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SquirrelCluster, type SquirrelClusterProps } from './squirrel-cluster.js';

export interface SquirrelStackProps extends StackProps {
  readonly cluster: SquirrelClusterProps;
}

/** One deployment: one protected cluster's control plane. */
export class SquirrelStack extends Stack {
  readonly cluster: SquirrelCluster;

  constructor(scope: Construct, id: string, props: SquirrelStackProps) {
    super(scope, id, props);
    this.cluster = new SquirrelCluster(this, 'Cluster', props.cluster);
  }
}
