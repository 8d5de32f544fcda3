using System.Net;
using System.Net.WebSockets;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>A secured Gateway that lets one other origin open WebSockets and event streams.</summary>
public sealed class OriginGateway : SecuredGateway
{
    public const string AllowedOrigin = "https://app.example";

    public OriginGateway() => Settings["Gateway:Auth:AllowedOrigins:0"] = AllowedOrigin;
}

/// <summary>A secured Gateway whose tickets live one second.</summary>
public sealed class ShortTicketGateway : SecuredGateway
{
    public ShortTicketGateway() => Settings["Gateway:Auth:TicketSeconds"] = "1";
}

/// <summary>
/// Browser safety of WebSockets and event streams: single-use tickets (only on those endpoints), the Origin
/// allow-list, and revoked or expired keys ending the sockets and streams they opened.
/// </summary>
public sealed class StreamSecurityTests(OriginGateway gateway) : IClassFixture<OriginGateway>
{
    private readonly HttpClient _admin = gateway.CreateAdminClient();

    private string Events(string vhost, string queue, string query = "") => $"{Urls.Queue(vhost, queue)}/events{query}";

    private async Task<(string Vhost, TestUser User)> ReaderAsync()
    {
        var (vhost, user) = await TestUser.InNewVhostAsync(gateway, _admin, ("", ".*", ".*"));
        await _admin.DeclareQueueAsync(vhost, "q");
        return (vhost, user);
    }

    // ------------------------------------------------------------------ tickets

    [Fact]
    public async Task A_ticket_opens_a_WebSocket_as_the_user_of_the_key_that_asked_for_it()
    {
        var (vhost, user) = await ReaderAsync();
        await _admin.PublishToQueueAsync(vhost, "q", "hello");
        var ticket = await user.Client.TicketAsync();

        await using var socket = await TestServerSockets.ConnectAsync(gateway, vhost, query: "?ticket=" + Uri.EscapeDataString(ticket));
        Assert.Equal("subscribed", (await socket.RequestAsync(new { type = "subscribe", id = "s", queue = "q" })).Type());

        Assert.Equal("hello", (await socket.ExpectAsync("delivery")).Str("payload"));
    }

    [Fact]
    public async Task A_ticket_opens_an_event_stream()
    {
        var (vhost, user) = await ReaderAsync();
        await _admin.PublishToQueueAsync(vhost, "q", "hello");
        var ticket = await user.Client.TicketAsync();
        using var anonymous = gateway.CreateClient();

        using var stream = await SseStream.OpenAsync(anonymous, Events(vhost, "q", "?ticket=" + Uri.EscapeDataString(ticket)));

        Assert.Equal("hello", (await stream.NextAsync()).Data.GetProperty("payload").GetString());
    }

    [Fact]
    public async Task A_ticket_works_once()
    {
        var (vhost, user) = await ReaderAsync();
        var ticket = Uri.EscapeDataString(await user.Client.TicketAsync());
        using var anonymous = gateway.CreateClient();

        using (await SseStream.OpenAsync(anonymous, Events(vhost, "q", "?ticket=" + ticket))) { }
        var again = await anonymous.GetAsync(Events(vhost, "q", "?ticket=" + ticket), HttpCompletionOption.ResponseHeadersRead);

        var problem = await SecurityApi.IsUnauthorizedAsync(again);
        Assert.Contains("ticket", problem.Detail());
        Assert.Equal(401, await TestServerSockets.RefusedStatusAsync(() => TestServerSockets.ConnectAsync(gateway, vhost, query: "?ticket=" + ticket)));
    }

    [Theory]
    [InlineData("GET", "/api/vhosts")]
    [InlineData("GET", "/api/auth/whoami")]
    [InlineData("POST", "/api/auth/tickets")]
    [InlineData("GET", "/api/vhosts/{vhost}/queues/events")] // a queue named "events"
    [InlineData("DELETE", "/api/vhosts/{vhost}/exchanges/ws")] // an exchange named "ws"
    [InlineData("POST", "/api/vhosts/{vhost}/queues/q/events")] // the event stream's path, another method
    public async Task A_ticket_is_refused_everywhere_but_the_WebSocket_and_event_stream_endpoints_and_stays_unused(string method, string path)
    {
        var (vhost, user) = await ReaderAsync();
        await _admin.DeclareExchangeAsync(vhost, "ws");
        await _admin.DeclareQueueAsync(vhost, "events");
        var ticket = Uri.EscapeDataString(await user.Client.TicketAsync());
        using var anonymous = gateway.CreateClient();

        var response = await anonymous.SendAsync(new HttpRequestMessage(new HttpMethod(method), path.Replace("{vhost}", Uri.EscapeDataString(vhost)) + "?ticket=" + ticket));

        await SecurityApi.IsUnauthorizedAsync(response);
        Assert.Equal(HttpStatusCode.OK, (await _admin.GetAsync(Urls.Exchange(vhost, "ws"))).StatusCode);
        // Not spent by the refused request: it still opens a stream.
        using var stream = await SseStream.OpenAsync(anonymous, Events(vhost, "q", "?ticket=" + ticket));
    }

    [Fact]
    public async Task A_ticket_whose_key_was_revoked_is_refused()
    {
        var (vhost, user) = await ReaderAsync();
        var ticket = Uri.EscapeDataString(await user.Client.TicketAsync());
        var keyId = (await user.Client.WhoAmIAsync()).KeyId!;

        await _admin.SendOkAsync(HttpMethod.Delete, SecurityUrls.Key(user.Name, keyId), body: null, HttpStatusCode.NoContent);
        using var anonymous = gateway.CreateClient();
        var response = await anonymous.GetAsync(Events(vhost, "q", "?ticket=" + ticket), HttpCompletionOption.ResponseHeadersRead);

        var problem = await SecurityApi.IsUnauthorizedAsync(response);
        Assert.Contains("revoked", problem.Detail());
    }

    [Fact]
    public async Task A_ticket_carries_the_permissions_of_its_user()
    {
        var (vhost, user) = await TestUser.InNewVhostAsync(gateway, _admin, ("", "", "^other$"));
        await _admin.DeclareQueueAsync(vhost, "q");
        var ticket = Uri.EscapeDataString(await user.Client.TicketAsync());
        using var anonymous = gateway.CreateClient();

        var response = await anonymous.GetAsync(Events(vhost, "q", "?ticket=" + ticket), HttpCompletionOption.ResponseHeadersRead);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden);
    }

    // ------------------------------------------------------------------ Origin

    [Fact]
    public async Task A_WebSocket_from_a_disallowed_origin_is_refused_with_403()
    {
        var vhost = await _admin.CreateVhostAsync();

        var status = await TestServerSockets.RefusedStatusAsync(() =>
            TestServerSockets.ConnectWithKeyAsync(gateway, vhost, SecuredGateway.AdminKey, origin: "https://evil.example"));

        Assert.Equal(403, status);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{Urls.Vhost(vhost)}/ws");
        request.Headers.Add("Origin", "https://evil.example");
        var problem = await ProblemAssert.IsProblemAsync(await _admin.SendAsync(request), HttpStatusCode.Forbidden);
        Assert.Contains("evil.example", problem.Detail());
    }

    [Fact]
    public async Task A_WebSocket_from_an_allowed_origin_or_from_its_own_is_accepted()
    {
        var vhost = await _admin.CreateVhostAsync();

        await using var allowed = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, SecuredGateway.AdminKey, origin: OriginGateway.AllowedOrigin);
        await using var own = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, SecuredGateway.AdminKey, origin: "http://localhost");

        await allowed.PingAsync();
        await own.PingAsync();
    }

    [Fact]
    public async Task An_event_stream_from_a_disallowed_origin_is_refused_with_403()
    {
        var (vhost, user) = await ReaderAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, Events(vhost, "q"));
        request.Headers.Add("Origin", "null");

        var response = await user.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden);
        Assert.Equal(0, (await _admin.GetQueueAsync(vhost, "q")).Consumers);
    }

    // ------------------------------------------------------------------ revocation ends what the key opened

    [Fact]
    public async Task Revoking_a_key_closes_its_open_WebSockets_with_1008()
    {
        var (vhost, user) = await ReaderAsync();
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, user.Key);
        await using var other = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, SecuredGateway.AdminKey);
        await socket.RequestAsync(new { type = "subscribe", id = "s", queue = "q" });
        var keyId = (await user.Client.WhoAmIAsync()).KeyId!;

        await _admin.SendOkAsync(HttpMethod.Delete, SecurityUrls.Key(user.Name, keyId), body: null, HttpStatusCode.NoContent);

        await socket.WaitForServerCloseAsync();
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, socket.CloseStatus);
        Assert.Contains("revoked", socket.CloseDescription);
        await other.PingAsync(); // the administrator's socket is untouched
        await Eventually.WaitForAsync(() => _admin.GetQueueAsync(vhost, "q"), q => q.Consumers == 0, "the subscription to end");
    }

    [Fact]
    public async Task A_socket_opened_with_a_ticket_closes_when_the_key_behind_it_is_revoked()
    {
        var (vhost, user) = await ReaderAsync();
        var ticket = Uri.EscapeDataString(await user.Client.TicketAsync());
        await using var socket = await TestServerSockets.ConnectAsync(gateway, vhost, query: "?ticket=" + ticket);
        await socket.PingAsync();

        await user.Client.SendOkAsync(HttpMethod.Delete, SecurityUrls.Key(user.Name, (await user.Client.WhoAmIAsync()).KeyId!), body: null, HttpStatusCode.NoContent);

        await socket.WaitForServerCloseAsync();
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, socket.CloseStatus);
    }

    [Fact]
    public async Task Revoking_a_key_ends_its_event_streams_with_an_error_event()
    {
        var (vhost, user) = await ReaderAsync();
        await _admin.PublishToQueueAsync(vhost, "q", "one");
        using var stream = await SseStream.OpenAsync(user.Client, Events(vhost, "q"));
        Assert.Equal("delivery", (await stream.NextAsync()).Name);

        await _admin.SendOkAsync(HttpMethod.Delete, SecurityUrls.Key(user.Name, (await user.Client.WhoAmIAsync()).KeyId!), body: null, HttpStatusCode.NoContent);

        var error = await stream.NextAsync();
        Assert.Equal("error", error.Name);
        Assert.Equal("key-revoked", error.Data.GetProperty("reason").GetString());
        Assert.True(await stream.EndedAsync());
        // The unacknowledged delivery went back to its queue.
        await Eventually.WaitForAsync(() => _admin.GetQueueAsync(vhost, "q"), q => q.MessagesReady == 1 && q.Consumers == 0, "the delivery to be requeued");
    }

    // ------------------------------------------------------------------ a permission change ends what may no longer be read

    [Fact]
    public async Task Taking_away_read_permission_cancels_the_users_WebSocket_subscriptions_with_access_refused()
    {
        var (vhost, user) = await ReaderAsync();
        await _admin.DeclareQueueAsync(vhost, "other");
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, user.Key);
        await socket.SubscribeAsync("s", "q", ackMode: "manual");
        await socket.SubscribeAsync("o", "other", ackMode: "manual");
        await _admin.PublishToQueueAsync(vhost, "q", "one");
        Assert.Equal("one", (await socket.ExpectAsync("delivery")).Str("payload")); // held, not acked

        await _admin.SetPermissionAsync(vhost, user.Name, "", ".*", "^other$");

        var cancelled = await socket.ExpectAsync("cancelled");
        Assert.Equal("s", cancelled.Str("id"));
        Assert.Equal("access-refused", cancelled.Str("reason"));
        Assert.Contains("'q'", cancelled.Str("detail"));
        // The held delivery went back to its queue; the socket and the subscription still allowed go on.
        await Eventually.WaitForAsync(() => _admin.GetQueueAsync(vhost, "q"), q => q.MessagesReady == 1 && q.Consumers == 0, "the delivery to be requeued");
        await socket.PingAsync();
        await _admin.PublishToQueueAsync(vhost, "other", "two");
        Assert.Equal("two", (await socket.ExpectAsync("delivery")).Str("payload"));
        Assert.Equal(1, (await _admin.GetQueueAsync(vhost, "other")).Consumers);
    }

    [Fact]
    public async Task A_permission_change_that_keeps_read_access_leaves_the_subscriptions_alone()
    {
        var (vhost, user) = await ReaderAsync();
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, user.Key);
        await socket.SubscribeAsync("s", "q");
        using var stream = await SseStream.OpenAsync(user.Client, Events(vhost, "q", "?ackMode=auto"));
        await Eventually.WaitForAsync(() => _admin.GetQueueAsync(vhost, "q"), q => q.Consumers == 2, "both subscriptions");

        await _admin.SetPermissionAsync(vhost, user.Name, ".*", "", "^q$"); // configure and write change, read still covers q
        await _admin.SetPermissionAsync(vhost, await _admin.CreateUserAsync(), "", "", ""); // another user's change

        await _admin.PublishToQueueAsync(vhost, "q", "one");
        await _admin.PublishToQueueAsync(vhost, "q", "two");
        var delivered = new List<string> { (await socket.ExpectAsync("delivery")).Str("payload"), (await stream.NextAsync()).Data.GetProperty("payload").GetString()! };
        Assert.Equal(["one", "two"], delivered.Order());
        Assert.Equal(2, (await _admin.GetQueueAsync(vhost, "q")).Consumers);
    }

    [Fact]
    public async Task Taking_away_read_permission_ends_the_users_event_streams_with_a_cancelled_event()
    {
        var (vhost, user) = await ReaderAsync();
        await _admin.PublishToQueueAsync(vhost, "q", "one");
        using var stream = await SseStream.OpenAsync(user.Client, Events(vhost, "q"));
        Assert.Equal("delivery", (await stream.NextAsync()).Name);

        await _admin.SendOkAsync(HttpMethod.Delete, SecurityUrls.Permission(vhost, user.Name), body: null, HttpStatusCode.NoContent);

        var cancelled = await stream.NextAsync();
        Assert.Equal("cancelled", cancelled.Name);
        Assert.Equal("access-refused", cancelled.Data.GetProperty("reason").GetString());
        Assert.True(await stream.EndedAsync());
        await Eventually.WaitForAsync(() => _admin.GetQueueAsync(vhost, "q"), q => q.MessagesReady == 1 && q.Consumers == 0, "the delivery to be requeued");
        // Reconnecting is refused: the stream does not come back.
        using var again = await user.Client.GetAsync(Events(vhost, "q"), HttpCompletionOption.ResponseHeadersRead);
        await ProblemAssert.IsProblemAsync(again, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Deleting_a_user_closes_its_WebSockets()
    {
        var (vhost, user) = await ReaderAsync();
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, user.Key);
        await socket.PingAsync();

        await _admin.SendOkAsync(HttpMethod.Delete, SecurityUrls.User(user.Name), body: null, HttpStatusCode.NoContent);

        await socket.WaitForServerCloseAsync();
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, socket.CloseStatus);
    }

    [Fact]
    public async Task A_WebSocket_closes_with_1008_when_its_key_expires()
    {
        var (vhost, _) = await ReaderAsync();
        var user = await _admin.CreateUserAsync();
        await _admin.SetPermissionAsync(vhost, user, "", ".*", ".*");
        var key = (await _admin.CreateKeyAsync(user, DateTimeOffset.UtcNow.AddSeconds(3))).Key;
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, key);
        await socket.PingAsync();

        await socket.WaitForServerCloseAsync(Eventually.Deadline);

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, socket.CloseStatus);
    }

    [Fact]
    public async Task A_key_expiring_in_months_opens_WebSockets_and_streams()
    {
        var (vhost, _) = await ReaderAsync();
        var user = await _admin.CreateUserAsync();
        await _admin.SetPermissionAsync(vhost, user, "", ".*", ".*");
        var key = (await _admin.CreateKeyAsync(user, DateTimeOffset.UtcNow.AddDays(90))).Key;
        using var client = gateway.CreateClientWithKey(key);

        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, key);
        using var stream = await SseStream.OpenAsync(client, Events(vhost, "q"));

        await socket.PingAsync();
    }
}

/// <summary>Tickets expire.</summary>
public sealed class TicketExpiryTests(ShortTicketGateway gateway) : IClassFixture<ShortTicketGateway>
{
    [Fact]
    public async Task A_ticket_stops_working_after_Gateway_Auth_TicketSeconds()
    {
        using var admin = gateway.CreateAdminClient();
        var vhost = await admin.CreateVhostAsync();
        await admin.DeclareQueueAsync(vhost, "q");
        using var anonymous = gateway.CreateClient();
        var url = $"{Urls.Queue(vhost, "q")}/events?ticket=";

        // A fresh ticket works; an unused one refused once its second has passed.
        using (await SseStream.OpenAsync(anonymous, url + Uri.EscapeDataString(await admin.TicketAsync()))) { }
        var ticket = await admin.TicketAsync();
        var issued = DateTimeOffset.UtcNow;
        await Eventually.WaitForAsync(() => Task.FromResult(DateTimeOffset.UtcNow), now => now > issued.AddSeconds(1.5), "the ticket's second to pass");
        var response = await anonymous.GetAsync(url + Uri.EscapeDataString(ticket), HttpCompletionOption.ResponseHeadersRead);

        var problem = await SecurityApi.IsUnauthorizedAsync(response);
        Assert.Contains("expired", problem.Detail());
    }
}
