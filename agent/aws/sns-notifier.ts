import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Notification, Notifier } from '../ports/notifier.js';

/** The Notifier as an SNS topic (email, chat, paging subscribe to it). */
export class SnsNotifier implements Notifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(n: Notification): Promise<void> {
    await this.sns.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: n.subject.slice(0, 100),
        Message: n.message,
        MessageAttributes: { clusterId: { DataType: 'String', StringValue: n.clusterId } },
      }),
    );
  }
}
