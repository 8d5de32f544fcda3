using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Gateway.Amqp.Tests;

/// <summary>Publisher confirms (confirm.select) and transactions (tx.*).</summary>
public sealed class ConfirmTxTests(AmqpGateway gateway) : IClassFixture<AmqpGateway>
{
    private static readonly CreateChannelOptions Confirms = new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    [Fact]
    public async Task A_window_of_confirmed_persistent_publishes_is_acked_and_stored()
    {
        await using var s = await gateway.SessionAsync(options: Confirms);
        var persistent = new BasicProperties { DeliveryMode = DeliveryModes.Persistent };
        var window = Enumerable.Range(0, 1000)
            .Select(i => s.Channel.BasicPublishAsync("", s.Queue, mandatory: false, persistent, BitConverter.GetBytes(i)).AsTask()).ToList();
        await Task.WhenAll(window).WaitAsync(Inbox.Deadline);
        Assert.Equal(1000, (await s.QueueInfoAsync()).MessagesReady);
    }

    [Fact]
    public async Task A_message_a_full_reject_publish_queue_refuses_is_nacked()
    {
        await using var s = await gateway.SessionAsync(options: Confirms);
        await s.Channel.QueueDeclareAsync("bounded", durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-max-length"] = 1, ["x-overflow"] = "reject-publish" });
        await s.Channel.BasicPublishAsync("", "bounded", "first"u8.ToArray());
        var e = await Assert.ThrowsAsync<PublishException>(async () => await s.Channel.BasicPublishAsync("", "bounded", "second"u8.ToArray()));
        Assert.False(e.IsReturn);
        await s.Channel.BasicPublishAsync("", s.Queue, "still-confirming"u8.ToArray());
    }

    [Fact]
    public async Task A_mandatory_unroutable_confirmed_publish_is_returned_then_acked()
    {
        await using var s = await gateway.SessionAsync(options: Confirms);
        var e = await Assert.ThrowsAsync<PublishReturnException>(async () =>
            await s.Channel.BasicPublishAsync("", "nowhere", mandatory: true, new BasicProperties(), "x"u8.ToArray()));
        Assert.True(e.IsReturn);
        Assert.Equal(312, e.ReplyCode);
    }

    [Fact]
    public async Task Tx_rollback_discards_publishes_and_commit_applies_them_with_their_acks()
    {
        await using var s = await gateway.SessionAsync();
        await s.Channel.TxSelectAsync();
        await s.Channel.BasicPublishAsync("", s.Queue, "rolled-back"u8.ToArray());
        await s.Channel.TxRollbackAsync();
        Assert.Equal(0, (await s.QueueInfoAsync()).MessagesReady);
        await s.Channel.BasicPublishAsync("", s.Queue, "one"u8.ToArray());
        await s.Channel.BasicPublishAsync("", s.Queue, "two"u8.ToArray());
        Assert.Equal(0, (await s.QueueInfoAsync()).MessagesReady);
        await s.Channel.TxCommitAsync();
        Assert.Equal(2, (await s.QueueInfoAsync()).MessagesReady);

        var got = await s.Channel.BasicGetAsync(s.Queue, autoAck: false);
        await s.Channel.BasicAckAsync(got!.DeliveryTag, multiple: false);
        await s.Channel.TxRollbackAsync();
        Assert.Equal(1, (await s.QueueInfoAsync()).MessagesUnacknowledged);
        await s.Channel.BasicAckAsync(got.DeliveryTag, multiple: false);
        await s.Channel.TxCommitAsync();
        await s.WaitForQueueAsync(q => q.MessagesUnacknowledged == 0 && q.MessagesReady == 1, "the committed ack to settle");
    }

    [Fact]
    public async Task Confirm_mode_and_tx_mode_exclude_each_other_with_406()
    {
        await using var s = await gateway.SessionAsync(options: Confirms);
        await AmqpAssert.ClosedWithAsync(406, () => s.Channel.TxSelectAsync());
    }
}
