using System.Buffers.Binary;
using System.Buffers.Text;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using static Gateway.Broker.Tests.Fx;

namespace Gateway.Broker.Tests;

public class QueueTests : IDisposable
{
    private readonly MessageBroker _broker = NewBroker();
    private readonly VirtualHost _vhost;
    private readonly MessageQueue _q;

    public QueueTests()
    {
        _vhost = _broker.Default();
        _q = _vhost.Queue("q");
    }

    public void Dispose() => _broker.Dispose();

    private void Send(params string[] bodies)
    {
        foreach (var body in bodies) Assert.Equal(1, _vhost.Send("", "q", body).Queues);
    }

    private static List<DeliveryTag> Tags(params Delivery[] deliveries) => deliveries.Select(d => d.Tag).ToList();

    // ---------------------------------------------------------------- FIFO and counts

    [Fact]
    public void Messages_are_taken_in_the_order_they_were_published()
    {
        Send("1", "2", "3", "4", "5");

        Assert.Equal(["1", "2"], _q.Take(2, Lease).Select(d => d.Text()));
        Assert.Equal(["3", "4", "5"], _q.Take(10, Lease).Select(d => d.Text()));
    }

    [Fact]
    public void Taking_from_an_empty_queue_returns_nothing()
    {
        Assert.Empty(_q.Take(5, Lease));
    }

    [Fact]
    public void Taking_needs_a_positive_maximum()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _q.Take(0, Lease));
    }

    [Fact]
    public void First_delivery_is_not_redelivered_and_has_delivery_count_one()
    {
        Send("m");

        var d = Assert.Single(_q.Take(1, Lease));

        Assert.False(d.Redelivered);
        Assert.Equal(1, d.DeliveryCount);
        Assert.Equal("q", d.Message.RoutingKey);
        Assert.Equal("", d.Message.Exchange);
    }

    [Fact]
    public void Counts_track_ready_and_unacknowledged_messages_and_ready_bytes()
    {
        Send("abc", "de");
        Assert.Equal(2, _q.MessagesReady);
        Assert.Equal(5, _q.MessageBytesReady);

        var d = _q.Take(1, Lease).Single();
        Assert.Equal(1, _q.MessagesReady);
        Assert.Equal(1, _q.MessagesUnacknowledged);
        Assert.Equal(2, _q.MessageBytesReady);

        _q.Ack([d.Tag]);
        Assert.Equal(0, _q.MessagesUnacknowledged);
    }

    // ---------------------------------------------------------------- purge

    [Fact]
    public void Purge_drops_ready_messages_and_returns_how_many()
    {
        Send("1", "2", "3");

        Assert.Equal(3, _q.Purge());
        Assert.Equal(0, _q.MessagesReady);
        Assert.Equal(0, _q.MessageBytesReady);
        Assert.Empty(_q.Take(10, Lease));
    }

    [Fact]
    public void Purge_keeps_unacknowledged_messages()
    {
        Send("1", "2");
        var d = _q.Take(1, Lease).Single();

        Assert.Equal(1, _q.Purge());

        Assert.Equal(1, _q.MessagesUnacknowledged);
        _q.Ack([d.Tag]);
        Assert.Equal(0, _q.MessagesUnacknowledged);
    }

    [Fact]
    public void Purge_drops_requeued_messages_too()
    {
        Send("1", "2");
        var d = _q.Take(1, Lease).Single();
        _q.Nack([d.Tag], requeue: true);

        Assert.Equal(2, _q.Purge());
        Assert.Empty(_q.Take(10, Lease));
    }

    // ---------------------------------------------------------------- ack

    [Fact]
    public void Ack_removes_the_message_for_good()
    {
        Send("m");
        var d = _q.Take(1, Lease).Single();

        _q.Ack([d.Tag]);

        Assert.Equal(0, _q.MessagesReady);
        Assert.Equal(0, _q.MessagesUnacknowledged);
        Assert.Empty(_q.Take(1, Lease));
    }

    [Fact]
    public void Acking_a_tag_twice_throws_NotFound()
    {
        Send("m");
        var d = _q.Take(1, Lease).Single();
        _q.Ack([d.Tag]);

        Refused(BrokerError.NotFound, () => _q.Ack([d.Tag]));
    }

    [Fact]
    public void Ack_with_an_unknown_tag_acks_none_of_the_batch()
    {
        Send("1", "2");
        var ds = _q.Take(2, Lease);
        var unknown = new DeliveryTag(_q.Incarnation, 999);

        Refused(BrokerError.NotFound, () => _q.Ack([ds[0].Tag, unknown, ds[1].Tag]));

        Assert.Equal(2, _q.MessagesUnacknowledged);
        _q.Ack(Tags([.. ds]));
        Assert.Equal(0, _q.MessagesUnacknowledged);
    }

    [Fact]
    public void Ack_with_an_already_settled_tag_acks_none_of_the_batch()
    {
        Send("1", "2");
        var ds = _q.Take(2, Lease);
        _q.Ack([ds[0].Tag]);

        Refused(BrokerError.NotFound, () => _q.Ack([ds[1].Tag, ds[0].Tag]));

        Assert.Equal(1, _q.MessagesUnacknowledged);
    }

    [Fact]
    public void Ack_with_a_tag_from_another_queue_acks_none_of_the_batch()
    {
        var other = _vhost.Queue("other");
        _vhost.Send("", "other");
        Send("m");
        var foreign = other.Take(1, Lease).Single();
        var mine = _q.Take(1, Lease).Single();

        Refused(BrokerError.NotFound, () => _q.Ack([mine.Tag, foreign.Tag]));

        Assert.Equal(1, _q.MessagesUnacknowledged);
        Assert.Equal(1, other.MessagesUnacknowledged);
    }

    [Fact]
    public void Ack_with_a_foreign_tag_that_has_the_same_number_as_a_valid_one_is_refused()
    {
        // Delivery numbers restart in every queue: a foreign tag can share its number with one of ours.
        var other = _vhost.Queue("other");
        _vhost.Send("", "other");
        Send("m");
        var foreign = other.Take(1, Lease).Single();
        var mine = _q.Take(1, Lease).Single();
        Assert.Equal(mine.Tag.Id, foreign.Tag.Id);

        Refused(BrokerError.NotFound, () => _q.Ack([mine.Tag, foreign.Tag]));

        Assert.Equal(1, _q.MessagesUnacknowledged);
    }

    [Fact]
    public void Ack_with_the_same_tag_twice_in_one_batch_acks_it_once()
    {
        Send("1", "2");
        var ds = _q.Take(2, Lease);

        _q.Ack([ds[0].Tag, ds[0].Tag]);

        Assert.Equal(1, _q.MessagesUnacknowledged);
        _q.Ack([ds[1].Tag]);
        Assert.Equal(0, _q.MessagesUnacknowledged);
    }

    [Fact]
    public void Tag_from_a_deleted_queue_is_not_accepted_by_a_new_queue_of_the_same_name()
    {
        Send("m");
        var old = _q.Take(1, Lease).Single();
        _vhost.DeleteQueue("q");
        var fresh = _vhost.Queue("q");
        _vhost.Send("", "q");
        var current = fresh.Take(1, Lease).Single();
        Assert.Equal(current.Tag.Id, old.Tag.Id);

        Refused(BrokerError.NotFound, () => fresh.Ack([old.Tag]));

        Assert.Equal(1, fresh.MessagesUnacknowledged);
    }

    // ---------------------------------------------------------------- nack

    [Fact]
    public void Nack_with_requeue_returns_message_at_its_position()
    {
        Send("1", "2", "3", "4");
        var ds = _q.Take(3, Lease);

        _q.Nack([ds[1].Tag], requeue: true);
        _q.Nack([ds[0].Tag], requeue: true);

        Assert.Equal(["1", "2", "4"], _q.Take(10, Lease).Select(d => d.Text()));
    }

    [Fact]
    public void Nack_with_requeue_marks_the_message_redelivered_and_counts_deliveries()
    {
        Send("m", "fresh");
        var first = _q.Take(1, Lease).Single();
        _q.Nack([first.Tag], requeue: true);

        var second = _q.Take(1, Lease).Single();
        Assert.Equal("m", second.Text());
        Assert.True(second.Redelivered);
        Assert.Equal(2, second.DeliveryCount);
        Assert.NotEqual(first.Tag, second.Tag);

        _q.Nack([second.Tag], requeue: true);
        var third = _q.Take(2, Lease);
        Assert.Equal(3, third[0].DeliveryCount);
        Assert.False(third[1].Redelivered);
        Assert.Equal(1, third[1].DeliveryCount);
    }

    [Fact]
    public void Nack_with_requeue_makes_the_old_tag_unknown()
    {
        Send("m");
        var d = _q.Take(1, Lease).Single();
        _q.Nack([d.Tag], requeue: true);

        Refused(BrokerError.NotFound, () => _q.Ack([d.Tag]));
        Assert.Equal(1, _q.MessagesReady);
    }

    [Fact]
    public void Nack_with_requeue_restores_ready_bytes()
    {
        Send("abcd");
        var d = _q.Take(1, Lease).Single();
        _q.Nack([d.Tag], requeue: true);

        Assert.Equal(4, _q.MessageBytesReady);
        Assert.Equal(1, _q.MessagesReady);
        Assert.Equal(0, _q.MessagesUnacknowledged);
    }

    [Fact]
    public void Nack_without_requeue_drops_the_message()
    {
        Send("1", "2");
        var d = _q.Take(1, Lease).Single();

        _q.Nack([d.Tag], requeue: false);

        Assert.Equal(0, _q.MessagesUnacknowledged);
        Assert.Equal(["2"], _q.DrainTexts());
    }

    [Fact]
    public void Nack_with_an_unknown_tag_requeues_none_of_the_batch()
    {
        Send("1");
        var d = _q.Take(1, Lease).Single();

        Refused(BrokerError.NotFound, () => _q.Nack([d.Tag, new DeliveryTag(_q.Incarnation, 42)], requeue: true));

        Assert.Equal(1, _q.MessagesUnacknowledged);
        Assert.Equal(0, _q.MessagesReady);
    }

    [Fact]
    public void Requeued_messages_interleave_with_new_ones_by_original_position()
    {
        Send("1", "2", "3");
        var ds = _q.Take(3, Lease);
        Send("4");

        _q.Nack([ds[2].Tag, ds[0].Tag], requeue: true);

        Assert.Equal(["1", "3", "4"], _q.Take(10, Lease).Select(d => d.Text()));
    }

    // ---------------------------------------------------------------- delivery tags

    [Fact]
    public void Delivery_tag_text_round_trips()
    {
        Send("m");
        var tag = _q.Take(1, Lease).Single().Tag;

        var text = tag.ToString();

        Assert.Equal(22, text.Length);
        Assert.Matches("^[A-Za-z0-9_-]{22}$", text);
        Assert.True(DeliveryTag.TryParse(text, out var parsed));
        Assert.Equal(tag, parsed);
    }

    [Theory]
    [InlineData(1UL, 1L)]
    [InlineData(ulong.MaxValue, long.MaxValue)]
    [InlineData(0x0123456789ABCDEFUL, 0x7EDCBA9876543210L)]
    public void Delivery_tag_round_trips_extreme_values(ulong incarnation, long id)
    {
        var tag = new DeliveryTag(incarnation, id);

        Assert.True(DeliveryTag.TryParse(tag.ToString(), out var parsed));
        Assert.Equal(tag, parsed);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("AAAAAAAAAAAAAAAAAAAA==")]
    [InlineData("AAAAAAAAAAAAAAAAAAAA+/")]
    [InlineData("AAAAAAAAAAAAAAAAAAAA!!")]
    [InlineData("AAAAAAAAAAAAAAAAAAAA  ")]
    [InlineData("ÄAAAAAAAAAAAAAAAAAAAAA")]
    public void Delivery_tag_parsing_rejects_garbage(string? text)
    {
        Assert.False(DeliveryTag.TryParse(text, out _));
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    [InlineData(long.MinValue)]
    public void Delivery_tag_parsing_rejects_non_positive_delivery_numbers(long id)
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, 7);
        BinaryPrimitives.WriteInt64BigEndian(bytes[8..], id);

        Assert.False(DeliveryTag.TryParse(Base64Url.EncodeToString(bytes), out _));
    }

    [Fact]
    public void Delivery_tags_are_unique_within_a_queue()
    {
        Send("1", "2", "3");
        var first = _q.Take(3, Lease);
        _q.Nack(Tags([.. first]), requeue: true);
        var second = _q.Take(3, Lease);

        var all = first.Concat(second).Select(d => d.Tag.ToString()).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
    }
}
