using System.Net;
using System.Net.Http.Json;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>
/// RabbitMQ's permission rules, each both ways: the user may configure, write and read resources whose names start
/// with "ok" (expressions <c>^ok</c>) and nothing else. Allowed → the operation's success; denied → 403 with a problem,
/// and the administrator sees that nothing changed.
/// </summary>
public sealed class PermissionTests(SecuredGateway gateway) : IClassFixture<SecuredGateway>
{
    private readonly HttpClient _admin = gateway.CreateAdminClient();

    private Task<(string Vhost, TestUser User)> OkOnlyAsync() => TestUser.InNewVhostAsync(gateway, _admin, ("^ok", "^ok", "^ok"));

    private static async Task DeniedAsync(HttpResponseMessage response, string because)
    {
        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "access-refused");
        Assert.Contains(because, problem.Detail());
    }

    private async Task<int> MessagesAsync(string vhost, string queue) => (await _admin.GetQueueAsync(vhost, queue)).Messages;

    private async Task<HttpStatusCode> AdminGetStatusAsync(string url) => (await _admin.GetAsync(url)).StatusCode;

    // ------------------------------------------------------------------ configure: declare and delete

    [Fact]
    public async Task Declaring_an_exchange_needs_configure_on_it()
    {
        var (vhost, user) = await OkOnlyAsync();

        var allowed = await user.Client.PutJsonAsync(Urls.Exchange(vhost, "ok-x"), new { type = "direct" });
        var denied = await user.Client.PutJsonAsync(Urls.Exchange(vhost, "no-x"), new { type = "direct" });

        Assert.Equal(HttpStatusCode.Created, allowed.StatusCode);
        await DeniedAsync(denied, "configure");
        Assert.Equal(HttpStatusCode.NotFound, await AdminGetStatusAsync(Urls.Exchange(vhost, "no-x")));
    }

    [Fact]
    public async Task Deleting_an_exchange_needs_configure_on_it()
    {
        var (vhost, user) = await OkOnlyAsync();
        await _admin.DeclareExchangeAsync(vhost, "ok-x");
        await _admin.DeclareExchangeAsync(vhost, "no-x");

        var allowed = await user.Client.DeleteAsync(Urls.Exchange(vhost, "ok-x"));
        var denied = await user.Client.DeleteAsync(Urls.Exchange(vhost, "no-x"));

        Assert.Equal(HttpStatusCode.NoContent, allowed.StatusCode);
        await DeniedAsync(denied, "configure");
        Assert.Equal(HttpStatusCode.OK, await AdminGetStatusAsync(Urls.Exchange(vhost, "no-x")));
    }

    [Fact]
    public async Task Declaring_a_queue_needs_configure_on_it()
    {
        var (vhost, user) = await OkOnlyAsync();

        var allowed = await user.Client.PutJsonAsync(Urls.Queue(vhost, "ok-q"), new { });
        var denied = await user.Client.PutJsonAsync(Urls.Queue(vhost, "no-q"), new { });

        Assert.Equal(HttpStatusCode.Created, allowed.StatusCode);
        await DeniedAsync(denied, "configure");
        Assert.Equal(HttpStatusCode.NotFound, await AdminGetStatusAsync(Urls.Queue(vhost, "no-q")));
    }

    [Fact]
    public async Task Deleting_a_queue_needs_configure_on_it()
    {
        var (vhost, user) = await OkOnlyAsync();
        await _admin.DeclareQueueAsync(vhost, "ok-q");
        await _admin.DeclareQueueAsync(vhost, "no-q");
        await _admin.PublishToQueueAsync(vhost, "no-q", "kept");

        var allowed = await user.Client.DeleteAsync(Urls.Queue(vhost, "ok-q"));
        var denied = await user.Client.DeleteAsync(Urls.Queue(vhost, "no-q"));

        Assert.Equal(HttpStatusCode.NoContent, allowed.StatusCode);
        await DeniedAsync(denied, "configure");
        Assert.Equal(1, await MessagesAsync(vhost, "no-q"));
    }

    [Fact]
    public async Task A_server_named_queue_needs_configure_on_the_amq_gen_prefix()
    {
        var (vhost, allowedUser) = await TestUser.InNewVhostAsync(gateway, _admin, ("^amq\\.gen-", "", ""));
        var deniedUser = await TestUser.CreateAsync(gateway, _admin);
        await _admin.SetPermissionAsync(vhost, deniedUser.Name, "^ok", "^ok", "^ok");

        var allowed = await allowedUser.Client.PostJsonAsync(Urls.Queues(vhost), new { durable = false });
        var denied = await deniedUser.Client.PostJsonAsync(Urls.Queues(vhost), new { durable = false });

        Assert.Equal(HttpStatusCode.Created, allowed.StatusCode);
        await DeniedAsync(denied, "amq.gen-");
        var queues = await _admin.GetFromJsonAsync<List<ApiQueue>>(Urls.Queues(vhost), GatewayFactory.Json);
        Assert.Single(queues!);
    }

    // ------------------------------------------------------------------ write: publish

    private async Task<(string Vhost, TestUser User)> PublishTargetsAsync()
    {
        var (vhost, user) = await OkOnlyAsync();
        await _admin.DeclareQueueAsync(vhost, "sink");
        foreach (var exchange in new[] { "ok-x", "no-x" })
        {
            await _admin.DeclareExchangeAsync(vhost, exchange, "fanout");
            await _admin.BindAsync(vhost, exchange, "sink");
        }
        return (vhost, user);
    }

    [Fact]
    public async Task Publishing_needs_write_on_the_exchange()
    {
        var (vhost, user) = await PublishTargetsAsync();

        var allowed = await user.Client.PostJsonAsync(Urls.Publish(vhost, "ok-x"), new { routingKey = "", payload = "m" });
        var denied = await user.Client.PostJsonAsync(Urls.Publish(vhost, "no-x"), new { routingKey = "", payload = "m" });

        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        await DeniedAsync(denied, "write");
        Assert.Equal(1, await MessagesAsync(vhost, "sink"));
    }

    [Fact]
    public async Task A_permission_change_applies_to_the_next_publish_although_the_answers_are_remembered()
    {
        // The directory remembers each (permission, exchange) answer of a grant: the same publishes, asked twice before
        // the change, must not be answered from before it.
        var (vhost, user) = await PublishTargetsAsync();
        var body = new { routingKey = "", payload = "m" };
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await user.Client.PostJsonAsync(Urls.Publish(vhost, "ok-x"), body)).StatusCode);
            await DeniedAsync(await user.Client.PostJsonAsync(Urls.Publish(vhost, "no-x"), body), "write");
        }

        await _admin.SetPermissionAsync(vhost, user.Name, "^ok", "^no", "^ok");

        Assert.Equal(HttpStatusCode.OK, (await user.Client.PostJsonAsync(Urls.Publish(vhost, "no-x"), body)).StatusCode);
        await DeniedAsync(await user.Client.PostJsonAsync(Urls.Publish(vhost, "ok-x"), body), "write");
        Assert.Equal(3, await MessagesAsync(vhost, "sink"));

        await _admin.DeleteAsync(SecurityUrls.Permission(vhost, user.Name));

        var problem = await ProblemAssert.IsProblemAsync(await user.Client.PostJsonAsync(Urls.Publish(vhost, "no-x"), body), HttpStatusCode.Forbidden, "access-refused");
        Assert.Contains("no access to vhost", problem.Detail());
    }

    [Fact]
    public async Task Batch_publishing_needs_write_on_the_exchange()
    {
        var (vhost, user) = await PublishTargetsAsync();
        var batch = new { messages = new[] { new { routingKey = "", payload = "a" }, new { routingKey = "", payload = "b" } } };

        var allowed = await user.Client.PostJsonAsync(Urls.PublishBatch(vhost, "ok-x"), batch);
        var denied = await user.Client.PostJsonAsync(Urls.PublishBatch(vhost, "no-x"), batch);

        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        await DeniedAsync(denied, "write");
        Assert.Equal(2, await MessagesAsync(vhost, "sink"));
    }

    [Fact]
    public async Task Raw_publishing_needs_write_on_the_exchange()
    {
        var (vhost, user) = await PublishTargetsAsync();

        var allowed = await user.Client.PostAsync(Urls.PublishRaw(vhost, "ok-x"), new ByteArrayContent([1, 2, 3]));
        var denied = await user.Client.PostAsync(Urls.PublishRaw(vhost, "no-x"), new ByteArrayContent([1, 2, 3]));

        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        await DeniedAsync(denied, "write");
        Assert.Equal(1, await MessagesAsync(vhost, "sink"));
    }

    [Fact]
    public async Task A_WebSocket_publish_frame_needs_write_on_the_exchange()
    {
        var (vhost, user) = await PublishTargetsAsync();
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, user.Key);

        var allowed = await socket.RequestAsync(new { type = "publish", id = "1", exchange = "ok-x", payload = "m" });
        var denied = await socket.RequestAsync(new { type = "publish", id = "2", exchange = "no-x", payload = "m" });

        Assert.Equal("confirm", allowed.Type());
        denied.IsError(403, "2");
        Assert.Contains("write", denied.Str("detail"));
        Assert.Equal(1, await MessagesAsync(vhost, "sink"));
    }

    [Fact]
    public async Task The_default_exchange_is_the_resource_amq_default()
    {
        var (vhost, allowedUser) = await TestUser.InNewVhostAsync(gateway, _admin, ("", "^amq\\.default$", ""));
        var deniedUser = await TestUser.CreateAsync(gateway, _admin);
        await _admin.SetPermissionAsync(vhost, deniedUser.Name, "^ok", "^ok", "^ok");
        await _admin.DeclareQueueAsync(vhost, "q");

        var allowed = await allowedUser.Client.PostJsonAsync(Urls.Publish(vhost, "amq.default"), new { routingKey = "q", payload = "m" });
        var denied = await deniedUser.Client.PostJsonAsync(Urls.Publish(vhost, "amq.default"), new { routingKey = "q", payload = "m" });

        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        await DeniedAsync(denied, "amq.default");
        Assert.Equal(1, await MessagesAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_WebSocket_publish_to_the_default_exchange_by_any_of_its_names_is_checked_as_amq_default()
    {
        var (vhost, allowedUser) = await TestUser.InNewVhostAsync(gateway, _admin, ("", "^amq\\.default$", ""));
        var deniedUser = await TestUser.CreateAsync(gateway, _admin);
        await _admin.SetPermissionAsync(vhost, deniedUser.Name, "", "^$", ""); // the AMQP wire name "" must not slip through
        await _admin.DeclareQueueAsync(vhost, "q");
        await using var allowedSocket = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, allowedUser.Key);
        await using var deniedSocket = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, deniedUser.Key);

        var omitted = await allowedSocket.RequestAsync(new { type = "publish", id = "1", routingKey = "q", payload = "m" });
        var empty = await allowedSocket.RequestAsync(new { type = "publish", id = "2", exchange = "", routingKey = "q", payload = "m" });
        var deniedEmpty = await deniedSocket.RequestAsync(new { type = "publish", id = "3", exchange = "", routingKey = "q", payload = "m" });

        Assert.Equal("confirm", omitted.Type());
        Assert.Equal("confirm", empty.Type());
        deniedEmpty.IsError(403, "3");
        Assert.Equal(2, await MessagesAsync(vhost, "q"));
    }

    // ------------------------------------------------------------------ bind: write on the destination, read on the source

    private async Task<(string Vhost, TestUser User)> BindTargetsAsync()
    {
        var (vhost, user) = await OkOnlyAsync();
        foreach (var exchange in new[] { "ok-src", "no-src", "ok-dx", "no-dx" }) await _admin.DeclareExchangeAsync(vhost, exchange);
        foreach (var queue in new[] { "ok-q", "no-q" }) await _admin.DeclareQueueAsync(vhost, queue);
        return (vhost, user);
    }

    private static Task<HttpResponseMessage> BindAsync(HttpClient client, string vhost, string source, string destination, string type = "queue") =>
        client.PostJsonAsync(Urls.Bindings(vhost), new { source, destination, destinationType = type, routingKey = "k" });

    [Fact]
    public async Task Binding_with_write_on_the_destination_and_read_on_the_source_is_allowed()
    {
        var (vhost, user) = await BindTargetsAsync();

        var toQueue = await BindAsync(user.Client, vhost, "ok-src", "ok-q");
        var toExchange = await BindAsync(user.Client, vhost, "ok-src", "ok-dx", "exchange");

        Assert.Equal(HttpStatusCode.Created, toQueue.StatusCode);
        Assert.Equal(HttpStatusCode.Created, toExchange.StatusCode);
        Assert.Equal(2, (await _admin.ListBindingsAsync(vhost)).Count);
    }

    [Fact]
    public async Task Binding_without_read_on_the_source_is_denied()
    {
        var (vhost, user) = await BindTargetsAsync();

        await DeniedAsync(await BindAsync(user.Client, vhost, "no-src", "ok-q"), "read");

        Assert.Empty(await _admin.ListBindingsAsync(vhost));
    }

    [Theory]
    [InlineData("no-q", "queue")]
    [InlineData("no-dx", "exchange")]
    public async Task Binding_without_write_on_the_destination_is_denied(string destination, string type)
    {
        var (vhost, user) = await BindTargetsAsync();

        await DeniedAsync(await BindAsync(user.Client, vhost, "ok-src", destination, type), "write");

        Assert.Empty(await _admin.ListBindingsAsync(vhost));
    }

    [Fact]
    public async Task Unbinding_needs_the_same_permissions_as_binding()
    {
        var (vhost, user) = await BindTargetsAsync();
        var allowed = await _admin.BindAsync(vhost, "ok-src", "ok-q", "k");
        var noRead = await _admin.BindAsync(vhost, "no-src", "ok-q", "k");
        var noWrite = await _admin.BindAsync(vhost, "ok-src", "no-q", "k");

        var unbound = await user.Client.DeleteAsync(Urls.Binding(vhost, allowed.Id));
        var deniedRead = await user.Client.DeleteAsync(Urls.Binding(vhost, noRead.Id));
        var deniedWrite = await user.Client.DeleteAsync(Urls.Binding(vhost, noWrite.Id));

        Assert.Equal(HttpStatusCode.NoContent, unbound.StatusCode);
        await DeniedAsync(deniedRead, "read");
        await DeniedAsync(deniedWrite, "write");
        Assert.Equal(new[] { noRead.Id, noWrite.Id }.Order(), (await _admin.ListBindingsAsync(vhost)).Select(b => b.Id).Order());
    }

    // ------------------------------------------------------------------ read: get, consume, settle, purge

    private async Task<(string Vhost, TestUser User)> ReadTargetsAsync()
    {
        var (vhost, user) = await OkOnlyAsync();
        foreach (var queue in new[] { "ok-q", "no-q" })
        {
            await _admin.DeclareQueueAsync(vhost, queue);
            await _admin.PublishToQueueAsync(vhost, queue, "one");
            await _admin.PublishToQueueAsync(vhost, queue, "two");
        }
        return (vhost, user);
    }

    [Fact]
    public async Task Getting_needs_read_on_the_queue()
    {
        var (vhost, user) = await ReadTargetsAsync();

        var allowed = await user.Client.PostJsonAsync(Urls.Get(vhost, "ok-q"), new { max = 10, ackMode = "auto" });
        var denied = await user.Client.PostJsonAsync(Urls.Get(vhost, "no-q"), new { max = 10, ackMode = "auto" });

        Assert.Equal(2, (await allowed.Content.ReadFromJsonAsync<List<ApiDelivery>>(GatewayFactory.Json))!.Count);
        await DeniedAsync(denied, "read");
        Assert.Equal(2, await MessagesAsync(vhost, "no-q"));
    }

    [Fact]
    public async Task A_raw_pull_needs_read_on_the_queue()
    {
        var (vhost, user) = await ReadTargetsAsync();

        var allowed = await user.Client.PostAsync(Urls.Next(vhost, "ok-q") + "?ackMode=auto", content: null);
        var denied = await user.Client.PostAsync(Urls.Next(vhost, "no-q") + "?ackMode=auto", content: null);

        Assert.Equal("one", await allowed.Content.ReadAsStringAsync());
        await DeniedAsync(denied, "read");
        Assert.Equal(2, await MessagesAsync(vhost, "no-q"));
    }

    [Fact]
    public async Task Purging_needs_read_on_the_queue()
    {
        var (vhost, user) = await ReadTargetsAsync();

        var allowed = await user.Client.DeleteAsync(Urls.QueueMessages(vhost, "ok-q"));
        var denied = await user.Client.DeleteAsync(Urls.QueueMessages(vhost, "no-q"));

        Assert.Equal(2, (await allowed.Content.ReadFromJsonAsync<ApiPurgeResult>(GatewayFactory.Json))!.Purged);
        await DeniedAsync(denied, "read");
        Assert.Equal(2, await MessagesAsync(vhost, "no-q"));
    }

    [Theory]
    [InlineData("ack")]
    [InlineData("nack")]
    [InlineData("extend")]
    public async Task Settling_needs_read_on_the_queue(string operation)
    {
        var (vhost, user) = await ReadTargetsAsync();
        var mine = (await user.Client.GetAsync(vhost, "ok-q", new { max = 1 }))[0].DeliveryTag;
        var theirs = (await _admin.GetAsync(vhost, "no-q", new { max = 1 }))[0].DeliveryTag;
        string Url(string queue) => operation switch { "ack" => Urls.Ack(vhost, queue), "nack" => Urls.Nack(vhost, queue), _ => Urls.Extend(vhost, queue) };
        object Body(string tag) => operation == "extend" ? new { deliveryTags = new[] { tag }, leaseSeconds = 60 } : new { deliveryTags = new[] { tag } };

        var allowed = await user.Client.PostJsonAsync(Url("ok-q"), Body(mine));
        var denied = await user.Client.PostJsonAsync(Url("no-q"), Body(theirs));

        Assert.Equal(HttpStatusCode.NoContent, allowed.StatusCode);
        await DeniedAsync(denied, "read");
        var queue = await _admin.GetQueueAsync(vhost, "no-q");
        Assert.Equal((1, 1), (queue.MessagesReady, queue.MessagesUnacknowledged)); // the administrator's lease is untouched
        Assert.Equal(HttpStatusCode.NoContent, (await _admin.PostJsonAsync(Urls.Ack(vhost, "no-q"), new { deliveryTags = new[] { theirs } })).StatusCode);
    }

    [Fact]
    public async Task An_event_stream_needs_read_on_the_queue()
    {
        var (vhost, user) = await ReadTargetsAsync();

        using (var stream = await SseStream.OpenAsync(user.Client, $"{Urls.Queue(vhost, "ok-q")}/events?ackMode=auto"))
            Assert.Equal("one", (await stream.NextAsync()).Data.GetProperty("payload").GetString());
        var denied = await user.Client.GetAsync($"{Urls.Queue(vhost, "no-q")}/events", HttpCompletionOption.ResponseHeadersRead);

        await DeniedAsync(denied, "read");
        Assert.Equal(2, await MessagesAsync(vhost, "no-q"));
    }

    [Fact]
    public async Task A_WebSocket_subscription_needs_read_on_the_queue()
    {
        var (vhost, user) = await ReadTargetsAsync();
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, user.Key);

        var denied = await socket.RequestAsync(new { type = "subscribe", id = "no", queue = "no-q" });
        var allowed = await socket.RequestAsync(new { type = "subscribe", id = "ok", queue = "ok-q" });
        var delivery = await socket.ExpectAsync("delivery");

        denied.IsError(403, "no");
        Assert.Equal("subscribed", allowed.Type());
        Assert.Equal("ok", delivery.Str("subscription"));
        Assert.Equal(2, await MessagesAsync(vhost, "no-q"));
        Assert.Equal(0, (await _admin.GetQueueAsync(vhost, "no-q")).Consumers);
    }

    [Fact]
    public async Task Permissions_changed_while_a_socket_is_open_apply_to_its_next_frame()
    {
        var (vhost, user) = await PublishTargetsAsync();
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, user.Key);
        Assert.Equal("confirm", (await socket.RequestAsync(new { type = "publish", id = "1", exchange = "ok-x", payload = "m" })).Type());

        await _admin.SetPermissionAsync(vhost, user.Name, "^ok", "", "^ok");

        (await socket.RequestAsync(new { type = "publish", id = "2", exchange = "ok-x", payload = "m" })).IsError(403, "2");
        Assert.Equal(1, await MessagesAsync(vhost, "sink"));
    }

    // ------------------------------------------------------------------ vhost access

    [Fact]
    public async Task A_user_without_permissions_in_a_vhost_neither_sees_it_nor_reads_its_topology()
    {
        var (vhost, user) = await TestUser.InNewVhostAsync(gateway, _admin, permissions: null);
        await _admin.DeclareQueueAsync(vhost, "q");

        var listed = await user.Client.GetFromJsonAsync<List<JsonElementName>>(Urls.Vhosts, GatewayFactory.Json);
        Assert.DoesNotContain(listed!, v => v.Name == vhost);
        foreach (var url in new[] { Urls.Vhost(vhost), Urls.Queues(vhost), Urls.Queue(vhost, "q"), Urls.Exchanges(vhost), Urls.Bindings(vhost) })
            await DeniedAsync(await user.Client.GetAsync(url), "no access");
    }

    [Fact]
    public async Task Any_permission_entry_grants_access_to_list_a_vhost_even_with_empty_expressions()
    {
        var (vhost, user) = await TestUser.InNewVhostAsync(gateway, _admin, ("", "", ""));
        await _admin.DeclareQueueAsync(vhost, "q");

        var listed = await user.Client.GetFromJsonAsync<List<JsonElementName>>(Urls.Vhosts, GatewayFactory.Json);

        Assert.Contains(listed!, v => v.Name == vhost);
        foreach (var url in new[] { Urls.Vhost(vhost), Urls.Queues(vhost), Urls.Queue(vhost, "q"), Urls.Exchanges(vhost), Urls.Bindings(vhost) })
            Assert.Equal(HttpStatusCode.OK, (await user.Client.GetAsync(url)).StatusCode);
        // Empty expressions match nothing: reading the queue's messages is still denied.
        await DeniedAsync(await user.Client.PostJsonAsync(Urls.Get(vhost, "q"), new { }), "read");
    }

    private sealed record JsonElementName(string Name);

    // ------------------------------------------------------------------ administrator tag

    public static TheoryData<string> NonAdministratorTags => new() { "", "management" };

    [Theory]
    [MemberData(nameof(NonAdministratorTags))]
    public async Task Users_vhosts_and_permissions_need_the_administrator_tag(string tag)
    {
        var user = await TestUser.CreateAsync(gateway, _admin, tag.Length == 0 ? [] : [tag]);
        var victim = await _admin.CreateUserAsync();
        var vhost = await _admin.CreateVhostAsync();
        await _admin.SetPermissionAsync(vhost, user.Name, ".*", ".*", ".*");
        var newUser = $"u-{Guid.NewGuid():N}";
        var newVhost = $"v-{Guid.NewGuid():N}";

        var refusals = new (string What, Task<HttpResponseMessage> Call)[]
        {
            ("list users", user.Client.GetAsync(SecurityUrls.Users)),
            ("create a user", user.Client.PutJsonAsync(SecurityUrls.User(newUser), new { tags = new[] { "administrator" } })),
            ("tag itself", user.Client.PutJsonAsync(SecurityUrls.User(user.Name), new { tags = new[] { "administrator" } })),
            ("delete a user", user.Client.DeleteAsync(SecurityUrls.User(victim))),
            ("create a vhost", user.Client.PutAsync(Urls.Vhost(newVhost), content: null)),
            ("delete a vhost", user.Client.DeleteAsync(Urls.Vhost(vhost))),
            ("list all permissions", user.Client.GetAsync("/api/permissions")),
            ("list a vhost's permissions", user.Client.GetAsync(SecurityUrls.Permissions(vhost))),
            ("read a permission", user.Client.GetAsync(SecurityUrls.Permission(vhost, user.Name))),
            ("grant a permission", user.Client.PutJsonAsync(SecurityUrls.Permission(vhost, victim), new { configure = ".*", write = ".*", read = ".*" })),
            ("remove a permission", user.Client.DeleteAsync(SecurityUrls.Permission(vhost, user.Name))),
        };
        foreach (var (what, call) in refusals)
        {
            var response = await call;
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"'{what}' answered {(int)response.StatusCode}, expected 403.");
            await DeniedAsync(response, "administrator");
        }

        Assert.Equal(HttpStatusCode.NotFound, await AdminGetStatusAsync(SecurityUrls.User(newUser)));
        Assert.Equal(HttpStatusCode.OK, await AdminGetStatusAsync(SecurityUrls.User(victim)));
        Assert.DoesNotContain("administrator", (await user.Client.WhoAmIAsync()).Tags);
        Assert.Equal(HttpStatusCode.NotFound, await AdminGetStatusAsync(Urls.Vhost(newVhost)));
        Assert.Equal(HttpStatusCode.OK, await AdminGetStatusAsync(Urls.Vhost(vhost)));
        Assert.Equal(HttpStatusCode.NotFound, await AdminGetStatusAsync(SecurityUrls.Permission(vhost, victim)));
        Assert.Equal(HttpStatusCode.OK, await AdminGetStatusAsync(SecurityUrls.Permission(vhost, user.Name)));
    }

    [Fact]
    public async Task An_administrator_manages_users_vhosts_and_permissions()
    {
        var admin = await TestUser.CreateAsync(gateway, _admin, "administrator");
        var name = $"u-{Guid.NewGuid():N}";
        var vhost = $"v-{Guid.NewGuid():N}";

        Assert.Equal(HttpStatusCode.Created, (await admin.Client.PutJsonAsync(SecurityUrls.User(name), new { tags = new[] { "management" } })).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await admin.Client.PutAsync(Urls.Vhost(vhost), content: null)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await admin.Client.PutJsonAsync(SecurityUrls.Permission(vhost, name), new { configure = "^a", write = "^b", read = "^c" })).StatusCode);
        var permission = await admin.Client.GetFromJsonAsync<ApiPermission>(SecurityUrls.Permission(vhost, name), GatewayFactory.Json);
        var users = await admin.Client.GetFromJsonAsync<List<ApiUser>>(SecurityUrls.Users, GatewayFactory.Json);
        var all = await admin.Client.GetFromJsonAsync<List<ApiPermission>>("/api/permissions", GatewayFactory.Json);

        Assert.Equal(new ApiPermission(name, vhost, "^a", "^b", "^c"), permission);
        Assert.Equal(["management"], users!.Single(u => u.Name == name).Tags);
        Assert.Contains(all!, p => p.User == admin.Name && p.Vhost == vhost); // the creator of a vhost gets '.*' in it
        Assert.Equal(HttpStatusCode.NoContent, (await admin.Client.DeleteAsync(SecurityUrls.Permission(vhost, name))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.Client.DeleteAsync(Urls.Vhost(vhost))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.Client.DeleteAsync(SecurityUrls.User(name))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, await AdminGetStatusAsync(SecurityUrls.User(name)));
    }

    [Fact]
    public async Task An_administrator_cannot_delete_itself()
    {
        var response = await _admin.DeleteAsync(SecurityUrls.User("admin"));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict);
        Assert.Equal("admin", (await _admin.WhoAmIAsync()).User);
    }

    // ------------------------------------------------------------------ self-service keys

    [Fact]
    public async Task A_user_lists_creates_and_revokes_its_own_keys()
    {
        var user = await TestUser.CreateAsync(gateway, _admin);

        var second = await user.Client.CreateKeyAsync(user.Name, description: "second");
        var listed = await user.Client.GetFromJsonAsync<List<ApiKeyInfo>>(SecurityUrls.Keys(user.Name), GatewayFactory.Json);
        using var secondClient = gateway.CreateClientWithKey(second.Key);
        var me = await secondClient.WhoAmIAsync();
        var revoked = await user.Client.DeleteAsync(SecurityUrls.Key(user.Name, second.Info.Id));

        Assert.Equal(2, listed!.Count);
        Assert.Equal(user.Name, me.User);
        Assert.Equal(HttpStatusCode.NoContent, revoked.StatusCode);
        await SecurityApi.IsUnauthorizedAsync(await secondClient.GetAsync(SecurityUrls.WhoAmI));
        Assert.Equal(HttpStatusCode.OK, (await user.Client.GetAsync(SecurityUrls.User(user.Name))).StatusCode);
    }

    [Fact]
    public async Task A_user_cannot_list_create_or_revoke_another_users_keys()
    {
        var user = await TestUser.CreateAsync(gateway, _admin);
        var other = await TestUser.CreateAsync(gateway, _admin);
        var otherKeyId = (await other.Client.WhoAmIAsync()).KeyId!;

        await DeniedAsync(await user.Client.GetAsync(SecurityUrls.Keys(other.Name)), "administrator");
        await DeniedAsync(await user.Client.PostJsonAsync(SecurityUrls.Keys(other.Name), new { }), "administrator");
        await DeniedAsync(await user.Client.DeleteAsync(SecurityUrls.Key(other.Name, otherKeyId)), "administrator");
        await DeniedAsync(await user.Client.GetAsync(SecurityUrls.User(other.Name)), "administrator");
        // Its own name with the other's key id: not its key.
        await ProblemAssert.IsProblemAsync(await user.Client.DeleteAsync(SecurityUrls.Key(user.Name, otherKeyId)), HttpStatusCode.NotFound);

        Assert.Equal(other.Name, (await other.Client.WhoAmIAsync()).User);
        Assert.Single((await _admin.GetFromJsonAsync<List<ApiKeyInfo>>(SecurityUrls.Keys(other.Name), GatewayFactory.Json))!);
    }

    // ------------------------------------------------------------------ permission expressions

    [Theory]
    [InlineData("configure", "(unclosed")]
    [InlineData("write", "[z-a]")]
    [InlineData("read", "(?<=lookbehind)x")]
    public async Task An_invalid_permission_expression_answers_400_naming_it_and_stores_nothing(string which, string pattern)
    {
        var vhost = await _admin.CreateVhostAsync();
        var user = await _admin.CreateUserAsync();
        var body = new Dictionary<string, string> { ["configure"] = ".*", ["write"] = ".*", ["read"] = ".*" };
        body[which] = pattern;

        var response = await _admin.PutJsonAsync(SecurityUrls.Permission(vhost, user), body);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains($"{which} permission '{pattern}'", problem.Detail());
        Assert.Equal(HttpStatusCode.NotFound, await AdminGetStatusAsync(SecurityUrls.Permission(vhost, user)));
    }

    [Fact]
    public async Task Expressions_match_anywhere_in_the_name_as_RabbitMQs()
    {
        var (vhost, user) = await TestUser.InNewVhostAsync(gateway, _admin, ("orders", "", ""));

        var middle = await user.Client.PutJsonAsync(Urls.Queue(vhost, "eu-orders-1"), new { });
        var other = await user.Client.PutJsonAsync(Urls.Queue(vhost, "invoices"), new { });

        Assert.Equal(HttpStatusCode.Created, middle.StatusCode);
        await DeniedAsync(other, "configure");
    }
}
