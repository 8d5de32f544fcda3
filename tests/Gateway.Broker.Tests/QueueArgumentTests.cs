using System.Text;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using static Gateway.Broker.Tests.Fx;

namespace Gateway.Broker.Tests;

/// <summary>RabbitMQ's queue arguments in the engine, on a manual clock: nothing here sleeps.</summary>
public class QueueArgumentTests : IDisposable
{
    private readonly ManualClock _clock = new();
    private readonly MessageBroker _broker;
    private readonly VirtualHost _vhost;

    public QueueArgumentTests()
    {
        _broker = NewBroker(_clock);
        _vhost = _broker.Default();
    }

    public void Dispose() => _broker.Dispose();

    private MessageQueue Declare(string name, params (string Key, object? Value)[] arguments) =>
        _vhost.DeclareQueue(new QueueDefinition(name, Arguments: Table(arguments))).Queue;

    private PublishOutcome Send(string queue, string body, string? expiration = null, byte? priority = null,
        IReadOnlyDictionary<string, object?>? headers = null) =>
        _vhost.Publish("", new Message("", queue, new MessageProperties { Expiration = expiration, Priority = priority, Headers = headers },
            Encoding.UTF8.GetBytes(body)));

    private void Advance(int milliseconds)
    {
        _clock.Advance(TimeSpan.FromMilliseconds(milliseconds));
        _broker.RunDueTimers();
    }

    private static string[] Bodies(IEnumerable<Delivery> deliveries) => deliveries.Select(d => d.Text()).ToArray();

    private static IReadOnlyList<object?> Deaths(Delivery d) => (IReadOnlyList<object?>)d.Message.Properties.Headers!["x-death"]!;

    private static IReadOnlyDictionary<string, object?> Death(Delivery d, int index = 0) => (IReadOnlyDictionary<string, object?>)Deaths(d)[index]!;

    // A queue "dlq" bound to the fanout "dlx", and a queue "q" dead-lettering to it.
    private (MessageQueue Source, MessageQueue Dead) WithDeadLetterQueue(params (string Key, object? Value)[] arguments)
    {
        _vhost.Exchange("dlx", ExchangeType.Fanout);
        var dead = _vhost.Queue("dlq");
        _vhost.BindQueue("dlx", "dlq");
        var source = Declare("q", [("x-dead-letter-exchange", "dlx"), .. arguments]);
        return (source, dead);
    }

    // ---------------------------------------------------------------- argument validation

    [Theory]
    [InlineData("x-message-ttl", -1L)]
    [InlineData("x-message-ttl", "100")]
    [InlineData("x-expires", 0L)]
    [InlineData("x-max-length", -1L)]
    [InlineData("x-max-length-bytes", 1.5)]
    [InlineData("x-overflow", "drop-tail")]
    [InlineData("x-max-priority", 256L)]
    [InlineData("x-delivery-limit", -2L)]
    [InlineData("x-single-active-consumer", 1L)]
    [InlineData("x-dead-letter-exchange", 3L)]
    [InlineData("x-queue-type", "quorum")]
    [InlineData("x-unknown", "value")]
    public void An_invalid_argument_is_refused_naming_it_and_nothing_is_declared(string key, object value)
    {
        var e = Assert.Throws<BrokerException>(() => Declare("q", (key, value)));

        Assert.Equal(BrokerError.InvalidArgument, e.Error);
        Assert.Contains(key, e.Message);
        Assert.Null(_vhost.GetQueue("q"));
    }

    [Fact]
    public void Arguments_without_the_x_prefix_mean_nothing_and_are_kept()
    {
        var q = Declare("q", ("colour", "blue"));

        Assert.Equal("blue", q.Definition.Arguments!["colour"]);
        Assert.Same(QueueArguments.None.GetType(), q.Arguments.GetType());
    }

    [Fact]
    public void A_whole_number_written_as_a_float_is_accepted_as_an_integer()
    {
        var q = Declare("q", ("x-max-length", 5.0));

        Assert.Equal(5, q.Arguments.MaxLength);
    }

    // ---------------------------------------------------------------- message TTL

    [Fact]
    public void A_message_past_the_queue_TTL_is_never_delivered()
    {
        var q = Declare("q", ("x-message-ttl", 1000L));
        Send("q", "old");
        Advance(600);
        Send("q", "young");
        Advance(500);

        Assert.Equal(["young"], Bodies(q.TakeAll()));
        Assert.Equal(0, q.MessagesReady);
    }

    [Fact]
    public void Expired_messages_leave_on_the_timer_without_a_consumer_asking()
    {
        var q = Declare("q", ("x-message-ttl", 1000L));
        Send("q", "a");
        Send("q", "b");

        Advance(999);
        Assert.Equal(2, q.MessagesReady);
        Advance(2);
        Assert.Equal(0, q.MessagesReady);
    }

    [Fact]
    public void The_smaller_of_queue_TTL_and_message_expiration_wins()
    {
        var q = Declare("q", ("x-message-ttl", 1000L));
        Send("q", "short", expiration: "100");
        Send("q", "queue-ttl", expiration: "5000");
        Send("q", "none");

        Advance(101);
        Assert.Equal(2, q.MessagesReady);
        Advance(900);
        Assert.Equal(0, q.MessagesReady);
    }

    [Fact]
    public void A_message_expiring_behind_a_longer_lived_head_leaves_without_waiting_for_the_head()
    {
        var q = _vhost.Queue("q");
        Send("q", "long", expiration: "10000");
        Send("q", "short", expiration: "10");
        Send("q", "forever");

        Advance(11);

        Assert.Equal(2, q.MessagesReady);
        Assert.Equal(["long", "forever"], Bodies(q.TakeAll()));
    }

    [Fact]
    public void TTL_zero_delivers_to_a_waiting_consumer_and_expires_otherwise()
    {
        var q = Declare("q", ("x-message-ttl", 0L));
        Send("q", "nobody");
        Assert.Equal(0, q.MessagesReady);

        var consumer = q.Subscribe(1);
        Send("q", "taken");
        Assert.True(consumer.Deliveries.TryRead(out var d));
        Assert.Equal("taken", d.Text());
    }

    [Fact]
    public void An_unacked_message_does_not_expire_but_expires_when_returned_after_its_TTL()
    {
        var q = Declare("q", ("x-message-ttl", 100L));
        Send("q", "m");
        var d = Assert.Single(q.TakeAll());

        Advance(500);
        Assert.Equal(1, q.MessagesUnacknowledged);
        q.Nack([d.Tag], requeue: true);

        Assert.Equal(0, q.MessagesReady);
        Assert.Equal(0, q.MessagesUnacknowledged);
    }

    [Fact]
    public void Expired_messages_are_dead_lettered_with_reason_expired_and_the_expiration_moved_into_x_death()
    {
        var (_, dead) = WithDeadLetterQueue(("x-message-ttl", 1000L));
        Send("q", "a", expiration: "50");

        Advance(51);

        var d = Assert.Single(dead.TakeAll());
        Assert.Equal("a", d.Text());
        var death = Death(d);
        Assert.Equal("expired", death["reason"]);
        Assert.Equal("q", death["queue"]);
        Assert.Equal(1L, death["count"]);
        Assert.Equal("", death["exchange"]);
        Assert.Equal(new List<object?> { "q" }, death["routing-keys"]);
        Assert.Equal("50", death["original-expiration"]);
        Assert.Equal(_clock.GetUtcNow().ToUnixTimeSeconds(), death["time"]);
        Assert.Null(d.Message.Properties.Expiration);
        Assert.Equal("expired", d.Message.Properties.Headers!["x-first-death-reason"]);
        Assert.Equal("q", d.Message.Properties.Headers!["x-first-death-queue"]);
        Assert.Equal("", d.Message.Properties.Headers!["x-first-death-exchange"]);
        Assert.Equal("dlx", d.Message.Exchange);
    }

    // ---------------------------------------------------------------- dead-lettering

    [Fact]
    public void A_rejected_message_is_dead_lettered_with_reason_rejected()
    {
        var (q, dead) = WithDeadLetterQueue();
        Send("q", "bad");

        q.Nack([Assert.Single(q.TakeAll()).Tag], requeue: false);

        var d = Assert.Single(dead.TakeAll());
        Assert.Equal("rejected", Death(d)["reason"]);
        Assert.Equal(0, q.MessagesUnacknowledged);
    }

    [Fact]
    public void A_rejected_message_without_a_dead_letter_exchange_is_dropped()
    {
        var q = _vhost.Queue("q");
        Send("q", "bad");

        q.Nack([Assert.Single(q.TakeAll()).Tag], requeue: false);

        Assert.Equal(0, q.MessagesReady + q.MessagesUnacknowledged);
    }

    [Fact]
    public void The_dead_letter_routing_key_replaces_the_message_routing_key()
    {
        _vhost.Exchange("dlx", ExchangeType.Direct);
        var dead = _vhost.Queue("dlq");
        _vhost.BindQueue("dlx", "dlq", "dead");
        var q = Declare("q", ("x-dead-letter-exchange", "dlx"), ("x-dead-letter-routing-key", "dead"));
        Send("q", "m");

        q.Nack([Assert.Single(q.TakeAll()).Tag], requeue: false);

        var d = Assert.Single(dead.TakeAll());
        Assert.Equal("dead", d.Message.RoutingKey);
        Assert.Equal(new List<object?> { "q" }, Death(d)["routing-keys"]);
    }

    [Fact]
    public void A_missing_dead_letter_exchange_drops_the_message()
    {
        var q = Declare("q", ("x-dead-letter-exchange", "nowhere"));
        Send("q", "m");

        q.Nack([Assert.Single(q.TakeAll()).Tag], requeue: false);

        Assert.Equal(0, q.MessagesReady + q.MessagesUnacknowledged);
    }

    [Fact]
    public void The_default_exchange_can_be_the_dead_letter_exchange()
    {
        var dead = _vhost.Queue("dlq");
        var q = Declare("q", ("x-dead-letter-exchange", ""), ("x-dead-letter-routing-key", "dlq"));
        Send("q", "m");

        q.Nack([Assert.Single(q.TakeAll()).Tag], requeue: false);

        Assert.Equal("m", Assert.Single(dead.TakeAll()).Text());
    }

    [Fact]
    public void Dying_again_in_the_same_queue_for_the_same_reason_counts_up_and_keeps_the_first_death_headers()
    {
        // q rejects to dlx → dlq; dlq rejects back to q through its own dead-letter exchange.
        _vhost.Exchange("dlx", ExchangeType.Fanout);
        _vhost.Exchange("back", ExchangeType.Fanout);
        var q = Declare("q", ("x-dead-letter-exchange", "dlx"));
        var dlq = Declare("dlq", ("x-dead-letter-exchange", "back"));
        _vhost.BindQueue("dlx", "dlq");
        _vhost.BindQueue("back", "q");
        Send("q", "m");

        q.Nack([Assert.Single(q.TakeAll()).Tag], requeue: false);
        dlq.Nack([Assert.Single(dlq.TakeAll()).Tag], requeue: false);
        q.Nack([Assert.Single(q.TakeAll()).Tag], requeue: false);

        var d = Assert.Single(dlq.TakeAll());
        Assert.Equal(2, Deaths(d).Count);
        Assert.Equal("q", Death(d, 0)["queue"]);
        Assert.Equal(2L, Death(d, 0)["count"]);
        Assert.Equal("dlq", Death(d, 1)["queue"]);
        Assert.Equal(1L, Death(d, 1)["count"]);
        Assert.Equal("q", d.Message.Properties.Headers!["x-first-death-queue"]);
    }

    [Fact]
    public void An_automatic_dead_letter_cycle_ends_the_message()
    {
        // Expired messages dead-lettered back into their own queue would expire forever: RabbitMQ drops them.
        var q = Declare("q", ("x-message-ttl", 10L), ("x-dead-letter-exchange", ""));
        Send("q", "m");

        Advance(11);
        Advance(11);

        Assert.Equal(0, q.MessagesReady);
    }

    [Fact]
    public void A_cycle_with_a_rejection_in_it_is_not_cut()
    {
        var q = Declare("q", ("x-dead-letter-exchange", ""), ("x-dead-letter-routing-key", "q"));
        Send("q", "m");

        q.Nack([Assert.Single(q.TakeAll()).Tag], requeue: false);
        var again = Assert.Single(q.TakeAll());

        Assert.Equal("rejected", Death(again)["reason"]);
    }

    [Fact]
    public void Dead_lettering_goes_through_the_exchange_alternate_exchange()
    {
        _vhost.Exchange("ae", ExchangeType.Fanout);
        var caught = _vhost.Queue("caught");
        _vhost.BindQueue("ae", "caught");
        _vhost.Exchange("dlx", ExchangeType.Direct, alternate: "ae");
        var q = Declare("q", ("x-dead-letter-exchange", "dlx"));
        Send("q", "m");

        q.Nack([Assert.Single(q.TakeAll()).Tag], requeue: false);

        Assert.Equal("m", Assert.Single(caught.TakeAll()).Text());
    }

    [Fact]
    public async Task Headers_given_with_a_rejection_are_added_to_the_dead_letter_copy()
    {
        var (q, dead) = WithDeadLetterQueue();
        Send("q", "m");

        await q.RejectAsync(Assert.Single(q.TakeAll()).Tag, new Dictionary<string, string> { ["x-webhook-error"] = "HTTP 400" });

        var d = Assert.Single(dead.TakeAll());
        Assert.Equal("HTTP 400", d.Message.Properties.Headers!["x-webhook-error"]);
    }

    // ---------------------------------------------------------------- length limits

    [Fact]
    public void Drop_head_drops_the_oldest_ready_messages()
    {
        var q = Declare("q", ("x-max-length", 2L));
        Send("q", "1");
        Send("q", "2");
        Send("q", "3");

        Assert.Equal(["2", "3"], Bodies(q.TakeAll()));
    }

    [Fact]
    public void Unacked_messages_do_not_count_towards_the_length_limit()
    {
        var q = Declare("q", ("x-max-length", 1L));
        Send("q", "1");
        var held = Assert.Single(q.TakeAll());
        Send("q", "2");

        Assert.Equal(1, q.MessagesReady);
        Assert.Equal(1, q.MessagesUnacknowledged);
        Assert.Equal("1", held.Text());
    }

    [Fact]
    public void Drop_head_by_bytes_keeps_the_ready_payload_within_the_limit()
    {
        var q = Declare("q", ("x-max-length-bytes", 10L));
        Send("q", "aaaa");
        Send("q", "bbbb");
        Send("q", "cccc");

        Assert.Equal(8, q.MessageBytesReady);
        Assert.Equal(["bbbb", "cccc"], Bodies(q.TakeAll()));
    }

    [Fact]
    public void Dropped_heads_are_dead_lettered_with_reason_maxlen()
    {
        var (q, dead) = WithDeadLetterQueue(("x-max-length", 1L));
        Send("q", "1");
        Send("q", "2");

        var d = Assert.Single(dead.TakeAll());
        Assert.Equal("1", d.Text());
        Assert.Equal("maxlen", Death(d)["reason"]);
        Assert.Equal(1, q.MessagesReady);
    }

    [Fact]
    public void Reject_publish_refuses_the_new_message_and_keeps_the_old_ones()
    {
        var q = Declare("q", ("x-max-length", 2L), ("x-overflow", "reject-publish"));
        Send("q", "1");
        Send("q", "2");

        var outcome = Send("q", "3");

        Assert.Equal(1, outcome.Rejected);
        Assert.Equal(0, outcome.Queues);
        Assert.Equal(["1", "2"], Bodies(q.TakeAll()));
    }

    [Fact]
    public void Reject_publish_still_delivers_to_the_other_queues_the_message_was_routed_to()
    {
        _vhost.Exchange("fan", ExchangeType.Fanout);
        Declare("full", ("x-max-length", 0L), ("x-overflow", "reject-publish"));
        var other = _vhost.Queue("other");
        _vhost.BindQueue("fan", "full");
        _vhost.BindQueue("fan", "other");

        var outcome = _vhost.Send("fan", "", "m");

        Assert.Equal(1, outcome.Rejected);
        Assert.Equal(1, outcome.Queues);
        Assert.Equal(1, other.MessagesReady);
    }

    [Fact]
    public void Reject_publish_dlx_dead_letters_the_refused_message()
    {
        var (q, dead) = WithDeadLetterQueue(("x-max-length", 1L), ("x-overflow", "reject-publish-dlx"));
        Send("q", "kept");

        var outcome = Send("q", "refused");

        Assert.Equal(1, outcome.Rejected);
        var d = Assert.Single(dead.TakeAll());
        Assert.Equal("refused", d.Text());
        Assert.Equal("maxlen", Death(d)["reason"]);
        Assert.Equal(["kept"], Bodies(q.TakeAll()));
    }

    [Fact]
    public void Plain_reject_publish_does_not_dead_letter()
    {
        var (_, dead) = WithDeadLetterQueue(("x-max-length", 0L), ("x-overflow", "reject-publish"));

        Send("q", "refused");

        Assert.Equal(0, dead.MessagesReady);
    }

    // ---------------------------------------------------------------- priorities

    [Fact]
    public void Higher_priority_messages_are_delivered_first_and_FIFO_within_a_priority()
    {
        var q = Declare("q", ("x-max-priority", 10L));
        Send("q", "low-1", priority: 1);
        Send("q", "none");
        Send("q", "high-1", priority: 9);
        Send("q", "low-2", priority: 1);
        Send("q", "high-2", priority: 9);

        Assert.Equal(["high-1", "high-2", "low-1", "low-2", "none"], Bodies(q.TakeAll()));
    }

    [Fact]
    public void Priorities_above_the_maximum_count_as_the_maximum()
    {
        var q = Declare("q", ("x-max-priority", 5L));
        Send("q", "five", priority: 5);
        Send("q", "two-hundred", priority: 200);

        Assert.Equal(["five", "two-hundred"], Bodies(q.TakeAll()));
    }

    [Fact]
    public void Without_x_max_priority_priorities_are_ignored()
    {
        var q = _vhost.Queue("q");
        Send("q", "low", priority: 1);
        Send("q", "high", priority: 9);

        Assert.Equal(["low", "high"], Bodies(q.TakeAll()));
    }

    [Fact]
    public void A_requeued_message_goes_back_to_its_place_within_its_priority()
    {
        var q = Declare("q", ("x-max-priority", 10L));
        Send("q", "low", priority: 1);
        Send("q", "high-1", priority: 5);
        Send("q", "high-2", priority: 5);
        var first = q.Take(1, Lease)[0];

        q.Nack([first.Tag], requeue: true);

        Assert.Equal("high-1", first.Text());
        Assert.Equal(["high-1", "high-2", "low"], Bodies(q.TakeAll()));
    }

    [Fact]
    public void A_consumer_receives_by_priority()
    {
        var q = Declare("q", ("x-max-priority", 3L));
        Send("q", "0");
        Send("q", "3", priority: 3);
        Send("q", "2", priority: 2);

        var consumer = q.Subscribe(10);
        var received = new List<string>();
        while (consumer.Deliveries.TryRead(out var d)) received.Add(d.Text());

        Assert.Equal(["3", "2", "0"], received);
    }

    // ---------------------------------------------------------------- delivery limit

    [Fact]
    public void A_message_returned_more_often_than_the_delivery_limit_is_dead_lettered()
    {
        var (q, dead) = WithDeadLetterQueue(("x-delivery-limit", 2L));
        Send("q", "poison");

        for (var i = 1; i <= 3; i++)
        {
            var d = Assert.Single(q.TakeAll());
            Assert.Equal(i, d.DeliveryCount);
            q.Nack([d.Tag], requeue: true);
        }

        Assert.Equal(0, q.MessagesReady);
        var letter = Assert.Single(dead.TakeAll());
        Assert.Equal("delivery_limit", Death(letter)["reason"]);
    }

    [Fact]
    public void Delivery_limit_zero_dead_letters_at_the_first_return()
    {
        var (q, dead) = WithDeadLetterQueue(("x-delivery-limit", 0L));
        Send("q", "m");

        q.Nack([Assert.Single(q.TakeAll()).Tag], requeue: true);

        Assert.Equal(1, dead.MessagesReady);
    }

    [Fact]
    public void A_consumer_going_away_counts_as_a_return_for_the_delivery_limit()
    {
        var (q, dead) = WithDeadLetterQueue(("x-delivery-limit", 0L));
        Send("q", "m");
        var consumer = q.Subscribe(1);
        Assert.True(consumer.Deliveries.TryRead(out _));

        q.Cancel(consumer);

        Assert.Equal(1, dead.MessagesReady);
    }

    [Fact]
    public void An_expired_lease_counts_as_a_return_for_the_delivery_limit()
    {
        var (q, dead) = WithDeadLetterQueue(("x-delivery-limit", 0L));
        Send("q", "m");
        q.Take(1, TimeSpan.FromSeconds(1));

        _clock.Advance(TimeSpan.FromSeconds(2));
        _broker.ExpireLeases();

        Assert.Equal(1, dead.MessagesReady);
    }

    // ---------------------------------------------------------------- single active consumer

    [Fact]
    public void Only_the_first_consumer_receives_and_the_next_takes_over_when_it_goes()
    {
        var q = Declare("q", ("x-single-active-consumer", true));
        var first = q.Subscribe(10);
        var second = q.Subscribe(10);
        for (var i = 0; i < 4; i++) Send("q", i.ToString());

        Assert.Equal(4, first.Deliveries.Count);
        Assert.Equal(0, second.Deliveries.Count);

        Assert.True(first.Deliveries.TryRead(out var handled));
        q.Ack([handled.Tag]);
        q.Cancel(first);

        var taken = new List<string>();
        while (second.Deliveries.TryRead(out var d)) taken.Add(d.Text());
        Assert.Equal(["1", "2", "3"], taken);
    }

    [Fact]
    public void Without_single_active_consumer_consumers_share_round_robin()
    {
        var q = _vhost.Queue("q");
        var first = q.Subscribe(10);
        var second = q.Subscribe(10);
        for (var i = 0; i < 4; i++) Send("q", i.ToString());

        Assert.Equal(2, first.Deliveries.Count);
        Assert.Equal(2, second.Deliveries.Count);
    }

    // ---------------------------------------------------------------- delayed messages

    [Fact]
    public void A_delayed_message_is_invisible_until_due()
    {
        var q = _vhost.Queue("q");
        Send("q", "later", headers: Table(("x-delay", 1000L)));
        Send("q", "now");

        Assert.Equal(1, q.MessagesDelayed);
        Assert.Equal(["now"], Bodies(q.TakeAll()));
        Advance(999);
        Assert.Empty(q.TakeAll());
        Advance(1);
        Assert.Equal(0, q.MessagesDelayed);
        Assert.Equal(["later"], Bodies(q.TakeAll()));
    }

    [Fact]
    public void Due_messages_become_ready_in_the_order_of_their_due_time()
    {
        var q = _vhost.Queue("q");
        Send("q", "third", headers: Table(("x-delay", 300L)));
        Send("q", "first", headers: Table(("x-delay", 100L)));
        Send("q", "second", headers: Table(("x-delay", 200L)));

        Advance(150);
        Send("q", "plain");
        Advance(500);

        Assert.Equal(["first", "plain", "second", "third"], Bodies(q.TakeAll()));
    }

    [Fact]
    public void A_waiting_consumer_receives_a_delayed_message_when_it_is_due()
    {
        var q = _vhost.Queue("q");
        var consumer = q.Subscribe(1);
        Send("q", "m", headers: Table(("x-delay", 50L)));
        Assert.False(consumer.Deliveries.TryRead(out _));

        Advance(50);

        Assert.True(consumer.Deliveries.TryRead(out var d));
        Assert.Equal("m", d.Text());
    }

    [Fact]
    public void A_nack_with_a_delay_holds_the_message_back_then_redelivers_it()
    {
        var q = _vhost.Queue("q");
        Send("q", "retry");
        var d = Assert.Single(q.TakeAll());

        q.Nack([d.Tag], requeue: true, delay: TimeSpan.FromSeconds(5));

        Assert.Equal(1, q.MessagesDelayed);
        Assert.Empty(q.TakeAll());
        Advance(5000);
        var again = Assert.Single(q.TakeAll());
        Assert.True(again.Redelivered);
        Assert.Equal(2, again.DeliveryCount);
    }

    [Fact]
    public void Many_scheduled_messages_cost_one_wake_up_at_a_time_not_a_timer_each()
    {
        var q = _vhost.Queue("q");
        var delay = Table(("x-delay", 1000L));
        var later = Table(("x-delay", 2000L));
        for (var i = 0; i < 100_000; i++) Send("q", "", headers: i % 2 == 0 ? delay : later);

        _clock.Advance(TimeSpan.FromMilliseconds(1000));
        Assert.Equal(1, _broker.RunDueTimers());
        Assert.Equal(50_000, q.MessagesDelayed);
        Assert.Equal(50_000, q.MessagesReady);
        _clock.Advance(TimeSpan.FromMilliseconds(1000));
        Assert.Equal(1, _broker.RunDueTimers());
        Assert.Equal(0, q.MessagesDelayed);
        Assert.Equal(100_000, q.MessagesReady);
    }

    [Fact]
    public void Purge_drops_delayed_messages_too()
    {
        var q = _vhost.Queue("q");
        Send("q", "ready");
        Send("q", "delayed", headers: Table(("x-delay", 1000L)));

        Assert.Equal(2, q.Purge());
        Advance(1000);
        Assert.Equal(0, q.MessagesReady);
    }

    // ---------------------------------------------------------------- queue expiry

    [Fact]
    public void An_unused_queue_is_deleted_after_x_expires()
    {
        Declare("q", ("x-expires", 1000L));

        Advance(999);
        Assert.NotNull(_vhost.GetQueue("q"));
        Advance(1);
        Assert.Null(_vhost.GetQueue("q"));
    }

    [Fact]
    public void A_get_or_a_redeclaration_counts_as_use()
    {
        var q = Declare("q", ("x-expires", 1000L));
        Advance(800);
        q.Take(1, Lease);
        Advance(800);
        Declare("q", ("x-expires", 1000L));
        Advance(800);

        Assert.NotNull(_vhost.GetQueue("q"));
        Advance(200);
        Assert.Null(_vhost.GetQueue("q"));
    }

    [Fact]
    public void A_queue_with_a_consumer_does_not_expire_until_the_interval_after_the_consumer_left()
    {
        var q = Declare("q", ("x-expires", 1000L));
        var consumer = q.Subscribe(1);
        Advance(5000);
        Assert.NotNull(_vhost.GetQueue("q"));

        q.Cancel(consumer);
        Advance(999);
        Assert.NotNull(_vhost.GetQueue("q"));
        Advance(1);
        Assert.Null(_vhost.GetQueue("q"));
    }

    // ---------------------------------------------------------------- atomic batches

    [Fact]
    public void An_atomic_batch_with_an_unroutable_mandatory_message_publishes_nothing()
    {
        var q = _vhost.Queue("q");
        Message[] batch = [Msg("q", "1"), Msg("missing", "2")];

        var outcomes = _vhost.PublishAtomic("", batch, [false, true], null, out var index, out var refusal);

        Assert.Null(outcomes);
        Assert.Equal(1, index);
        Assert.Equal(BatchRefusal.Unroutable, refusal);
        Assert.Equal(0, q.MessagesReady);
    }

    [Fact]
    public void An_atomic_batch_that_would_overflow_a_reject_publish_queue_publishes_nothing()
    {
        var q = Declare("q", ("x-max-length", 2L), ("x-overflow", "reject-publish"));
        Send("q", "already");
        Message[] batch = [Msg("q", "1"), Msg("q", "2")];

        var outcomes = _vhost.PublishAtomic("", batch, [false, false], null, out var index, out var refusal);

        Assert.Null(outcomes);
        Assert.Equal(1, index);
        Assert.Equal(BatchRefusal.QueueFull, refusal);
        Assert.Equal(1, q.MessagesReady);
    }

    [Fact]
    public void An_atomic_batch_that_fits_publishes_every_message()
    {
        var q = Declare("q", ("x-max-length", 3L), ("x-overflow", "reject-publish"));
        Message[] batch = [Msg("q", "1"), Msg("q", "2"), Msg("q", "3")];

        var outcomes = _vhost.PublishAtomic("", batch, [true, true, true], null, out _, out _);

        Assert.NotNull(outcomes);
        Assert.All(outcomes, o => Assert.Equal(1, o.Queues));
        Assert.Equal(["1", "2", "3"], Bodies(q.TakeAll()));
    }
}
