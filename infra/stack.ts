import { Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { SquirrelCluster, type SquirrelClusterProps } from './squirrel-cluster.js';

export interface SquirrelStackProps extends StackProps {
  readonly cluster: SquirrelClusterProps;
  /** The VPC of the database host and the endpoint's zone, by id (no lookup). @default cluster.vpc */
  readonly vpcId?: string;
}

/** One deployment: one protected cluster. */
export class SquirrelStack extends Stack {
  readonly cluster: SquirrelCluster;

  constructor(scope: Construct, id: string, props: SquirrelStackProps) {
    super(scope, id, props);
    const vpc = props.vpcId ? ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: props.vpcId, availabilityZones: this.availabilityZones }) : props.cluster.vpc;
    this.cluster = new SquirrelCluster(this, 'Cluster', { ...props.cluster, vpc });
  }
}
