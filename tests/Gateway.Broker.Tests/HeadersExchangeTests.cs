using Gateway.Broker.Exchanges;
using Gateway.Broker.Topology;
using static Gateway.Broker.Tests.Fx;

namespace Gateway.Broker.Tests;

/// <summary>Headers-exchange matching as recorded from RabbitMQ 3.10.</summary>
public class HeadersExchangeTests : IDisposable
{
    private readonly MessageBroker _broker = NewBroker();
    private readonly VirtualHost _vhost;
    private int _queues;

    public HeadersExchangeTests()
    {
        _vhost = _broker.Default();
        _vhost.Exchange("h", ExchangeType.Headers);
    }

    public void Dispose() => _broker.Dispose();

    /// <summary>Binds a fresh queue to "h" with <paramref name="binding"/> and says whether a message with <paramref name="headers"/> reaches it.</summary>
    private bool Routes(Dictionary<string, object?> binding, Dictionary<string, object?>? headers)
    {
        var name = $"q{++_queues}";
        _vhost.Queue(name);
        _vhost.BindQueue("h", name, "", binding);
        var reached = _vhost.Routes("h", "", headers).Contains(name);
        _vhost.DeleteQueue(name);
        return reached;
    }

    // ---------------------------------------------------------------- x-match all

    [Fact]
    public void All_matches_when_every_binding_key_is_present_and_equal()
    {
        var binding = Table(("x-match", "all"), ("format", "pdf"), ("type", "report"));
        Assert.True(Routes(binding, Table(("format", "pdf"), ("type", "report"))));
        Assert.True(Routes(binding, Table(("format", "pdf"), ("type", "report"), ("extra", "ignored"))));
    }

    [Fact]
    public void All_does_not_match_when_a_binding_key_is_missing()
    {
        var binding = Table(("x-match", "all"), ("format", "pdf"), ("type", "report"));
        Assert.False(Routes(binding, Table(("format", "pdf"))));
        Assert.False(Routes(binding, null));
    }

    [Fact]
    public void All_does_not_match_when_a_value_differs()
    {
        var binding = Table(("x-match", "all"), ("format", "pdf"), ("type", "report"));
        Assert.False(Routes(binding, Table(("format", "pdf"), ("type", "log"))));
    }

    [Fact]
    public void All_is_the_default_when_x_match_is_absent()
    {
        var binding = Table(("format", "pdf"), ("type", "report"));
        Assert.True(Routes(binding, Table(("format", "pdf"), ("type", "report"))));
        Assert.False(Routes(binding, Table(("format", "pdf"))));
    }

    [Theory]
    [InlineData("ALL")]
    [InlineData("Any")]
    [InlineData("bogus")]
    [InlineData("")]
    public void Unknown_x_match_is_refused_at_bind_as_RabbitMQ_does(string mode)
    {
        _vhost.Queue("unknown-mode");
        var e = Assert.Throws<BrokerException>(() => _vhost.BindQueue("h", "unknown-mode", "", Table(("x-match", mode), ("format", "pdf"))));
        Assert.Equal(BrokerError.InvalidArgument, e.Error);
        Assert.Empty(_vhost.ListBindings());
    }

    [Fact]
    public void X_match_that_is_not_a_string_is_refused_at_bind()
    {
        _vhost.Queue("numeric-mode");
        var e = Assert.Throws<BrokerException>(() => _vhost.BindQueue("h", "numeric-mode", "", Table(("x-match", 1L), ("format", "pdf"))));
        Assert.Equal(BrokerError.InvalidArgument, e.Error);
    }

    [Fact]
    public void All_with_no_keys_matches_every_message()
    {
        Assert.True(Routes(Table(("x-match", "all")), null));
        Assert.True(Routes(Table(("x-match", "all")), Table(("a", "1"))));
        Assert.True(Routes(Table(), null));
    }

    [Fact]
    public void All_ignores_binding_keys_starting_with_x_dash()
    {
        var binding = Table(("x-match", "all"), ("x-tenant", "acme"), ("format", "pdf"));
        Assert.True(Routes(binding, Table(("format", "pdf"))));
    }

    // ---------------------------------------------------------------- x-match any

    [Fact]
    public void Any_matches_when_at_least_one_binding_key_is_equal()
    {
        var binding = Table(("x-match", "any"), ("format", "pdf"), ("type", "report"));
        Assert.True(Routes(binding, Table(("format", "pdf"))));
        Assert.True(Routes(binding, Table(("format", "zip"), ("type", "report"))));
    }

    [Fact]
    public void Any_does_not_match_when_no_binding_key_is_equal()
    {
        var binding = Table(("x-match", "any"), ("format", "pdf"), ("type", "report"));
        Assert.False(Routes(binding, Table(("format", "zip"), ("type", "log"))));
        Assert.False(Routes(binding, Table(("other", "pdf"))));
        Assert.False(Routes(binding, null));
    }

    [Fact]
    public void Any_with_no_keys_matches_nothing()
    {
        Assert.False(Routes(Table(("x-match", "any")), Table(("a", "1"))));
        Assert.False(Routes(Table(("x-match", "any")), null));
    }

    [Fact]
    public void Any_ignores_binding_keys_starting_with_x_dash()
    {
        var binding = Table(("x-match", "any"), ("x-tenant", "acme"));
        Assert.False(Routes(binding, Table(("x-tenant", "acme"))));
    }

    // ---------------------------------------------------------------- -with-x forms

    [Fact]
    public void All_with_x_compares_x_dash_keys_too()
    {
        var binding = Table(("x-match", "all-with-x"), ("x-tenant", "acme"), ("format", "pdf"));
        Assert.True(Routes(binding, Table(("x-tenant", "acme"), ("format", "pdf"))));
        Assert.False(Routes(binding, Table(("format", "pdf"))));
        Assert.False(Routes(binding, Table(("x-tenant", "other"), ("format", "pdf"))));
    }

    [Fact]
    public void Any_with_x_matches_on_an_x_dash_key()
    {
        var binding = Table(("x-match", "any-with-x"), ("x-tenant", "acme"), ("format", "pdf"));
        Assert.True(Routes(binding, Table(("x-tenant", "acme"))));
        Assert.False(Routes(binding, Table(("x-tenant", "other"), ("format", "zip"))));
    }

    [Fact]
    public void X_match_itself_is_never_compared_with_the_message_headers()
    {
        Assert.True(Routes(Table(("x-match", "all-with-x"), ("a", "1")), Table(("a", "1"))));
        Assert.True(Routes(Table(("x-match", "all-with-x")), null));
        Assert.False(Routes(Table(("x-match", "any-with-x")), Table(("x-match", "any-with-x"))));
    }

    // ---------------------------------------------------------------- value equality

    [Fact]
    public void Long_one_equals_double_one()
    {
        Assert.True(Routes(Table(("n", 1L)), Table(("n", 1.0))));
        Assert.True(Routes(Table(("n", 1.0)), Table(("n", 1L))));
        Assert.False(Routes(Table(("n", 1L)), Table(("n", 1.5))));
    }

    [Fact]
    public void String_one_does_not_equal_number_one()
    {
        Assert.False(Routes(Table(("n", "1")), Table(("n", 1L))));
        Assert.False(Routes(Table(("n", 1L)), Table(("n", "1"))));
    }

    [Fact]
    public void String_true_does_not_equal_boolean_true()
    {
        Assert.False(Routes(Table(("flag", "true")), Table(("flag", true))));
        Assert.False(Routes(Table(("flag", true)), Table(("flag", "true"))));
        Assert.True(Routes(Table(("flag", true)), Table(("flag", true))));
        Assert.False(Routes(Table(("flag", true)), Table(("flag", false))));
    }

    [Fact]
    public void Header_keys_are_case_sensitive()
    {
        Assert.False(Routes(Table(("Format", "pdf")), Table(("format", "pdf"))));
    }

    [Fact]
    public void String_values_are_case_sensitive()
    {
        Assert.False(Routes(Table(("format", "PDF")), Table(("format", "pdf"))));
    }

    [Fact]
    public void Void_binding_value_matches_any_value_of_a_present_header()
    {
        // RabbitMQ: "a 'no value' in a pattern field is supposed to mean simple presence of the data field".
        Assert.True(Routes(Table(("k", null)), Table(("k", "anything"))));
        Assert.True(Routes(Table(("k", null)), Table(("k", null))));
        Assert.False(Routes(Table(("k", null)), Table(("other", "x"))));
        Assert.True(Routes(Table(("x-match", "any"), ("k", null), ("j", "1")), Table(("k", 5L))));
    }

    [Fact]
    public void Void_header_value_does_not_equal_a_non_void_binding_value()
    {
        Assert.False(Routes(Table(("k", "v")), Table(("k", null))));
    }

    [Fact]
    public void Binary_values_compare_by_content()
    {
        Assert.True(Routes(Table(("b", new byte[] { 1, 2 })), Table(("b", new byte[] { 1, 2 }))));
        Assert.False(Routes(Table(("b", new byte[] { 1, 2 })), Table(("b", new byte[] { 1, 3 }))));
    }

    [Fact]
    public void Arrays_compare_element_wise_with_their_types()
    {
        Assert.True(Routes(Table(("a", new List<object?> { 1L, "x" })), Table(("a", new List<object?> { 1L, "x" }))));
        Assert.False(Routes(Table(("a", new List<object?> { 1L })), Table(("a", new List<object?> { 1.0 }))));
        Assert.False(Routes(Table(("a", new List<object?> { 1L })), Table(("a", new List<object?> { 1L, 2L }))));
    }

    [Fact]
    public void Nested_tables_compare_entry_wise_with_their_types()
    {
        Assert.True(Routes(Table(("t", Table(("k", 1L)))), Table(("t", Table(("k", 1L))))));
        Assert.False(Routes(Table(("t", Table(("k", 1L)))), Table(("t", Table(("k", 1.0))))));
        Assert.False(Routes(Table(("t", Table(("k", 1L)))), Table(("t", Table(("k", 1L), ("j", 2L))))));
    }

    // ---------------------------------------------------------------- through the exchange

    [Fact]
    public void Headers_exchange_ignores_the_routing_key()
    {
        _vhost.Queue("q");
        _vhost.BindQueue("h", "q", "some-key", Table(("a", "1")));

        Assert.Equal(["q"], _vhost.Routes("h", "other-key", Table(("a", "1"))));
    }

    [Fact]
    public void Headers_exchange_routes_to_each_queue_whose_binding_matches()
    {
        _vhost.Queue("pdf");
        _vhost.Queue("reports");
        _vhost.Queue("none");
        _vhost.BindQueue("h", "pdf", "", Table(("format", "pdf")));
        _vhost.BindQueue("h", "reports", "", Table(("x-match", "any"), ("type", "report"), ("kind", "report")));
        _vhost.BindQueue("h", "none", "", Table(("format", "zip")));

        Assert.Equal(["pdf", "reports"], _vhost.Routes("h", "", Table(("format", "pdf"), ("type", "report"))));
    }

    [Theory]
    [InlineData("amq.headers")]
    [InlineData("amq.match")]
    public void Predeclared_headers_exchanges_match_headers(string exchange)
    {
        _vhost.Queue("q");
        _vhost.BindQueue(exchange, "q", "", Table(("a", "1")));

        Assert.Equal(["q"], _vhost.Routes(exchange, "", Table(("a", "1"))));
        Assert.Empty(_vhost.Routes(exchange, "", Table(("a", "2"))));
    }

    [Fact]
    public void Published_headers_message_is_enqueued_on_a_match()
    {
        var q = _vhost.Queue("q");
        _vhost.BindQueue("h", "q", "", Table(("a", "1")));

        Assert.Equal(1, _vhost.Send("h", "", "yes", Table(("a", "1"))).Queues);
        Assert.Equal(0, _vhost.Send("h", "", "no", Table(("a", "2"))).Queues);
        Assert.Equal(["yes"], q.DrainTexts());
    }
}
