using System.Net;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>Queues declared over a socket, exclusive queues in particular (issue 5: they belong to one connection).</summary>
public abstract partial class WebSocketTests<TFactory>
{
    private static async Task<string> DeclareAsync(SocketClient socket, string? queue, bool exclusive)
    {
        var frame = new Dictionary<string, object> { ["type"] = "declare", ["id"] = "d", ["exclusive"] = exclusive };
        if (queue is not null) frame["queue"] = queue;
        var answer = await socket.RequestAsync(frame);
        Assert.True(answer.Type() == "declared" && answer.Str("id") == "d", $"Expected declared, got {answer.GetRawText()}");
        return answer.Str("queue")!;
    }

    [Fact]
    public async Task A_socket_declares_a_queue_with_a_name_or_a_server_chosen_one()
    {
        var vhost = await _client.CreateVhostAsync("ws");
        await using var socket = await ConnectAsync(vhost);

        Assert.Equal("named", await DeclareAsync(socket, "named", exclusive: false));
        var generated = await DeclareAsync(socket, null, exclusive: true);

        Assert.StartsWith("amq.gen-", generated);
        Assert.True((await QueueAsync(vhost, "named")).Durable);
        Assert.True((await QueueAsync(vhost, generated)).Exclusive);
    }

    [Fact]
    public async Task An_exclusive_queue_is_consumed_by_its_socket_and_refused_to_others_with_409()
    {
        var vhost = await _client.CreateVhostAsync("ws");
        await using var owner = await ConnectAsync(vhost);
        await using var other = await ConnectAsync(vhost);
        var queue = await DeclareAsync(owner, "mine", exclusive: true);
        await _client.PublishToQueueAsync(vhost, queue, "hello");

        var refused = await other.RequestAsync(new { type = "subscribe", id = "s", queue });
        Assert.Equal(("error", 409), (refused.Type(), refused.GetProperty("status").GetInt32()));
        await ProblemAssert.IsProblemAsync(await _client.PostJsonAsync(Urls.Get(vhost, queue), new { max = 1 }), HttpStatusCode.Conflict, "resource-locked");
        await ProblemAssert.IsProblemAsync(await _client.DeleteAsync(Urls.QueueMessages(vhost, queue)), HttpStatusCode.Conflict, "resource-locked");
        await ProblemAssert.IsProblemAsync(await _client.DeleteAsync(Urls.Queue(vhost, queue)), HttpStatusCode.Conflict, "resource-locked");

        await SubscribeAsync(owner, queue: queue);
        Assert.Equal(["hello"], Payloads(await owner.DeliveriesAsync(1)));
    }

    [Fact]
    public async Task Another_socket_cannot_redeclare_an_exclusive_queue()
    {
        var vhost = await _client.CreateVhostAsync("ws");
        await using var owner = await ConnectAsync(vhost);
        await using var other = await ConnectAsync(vhost);
        await DeclareAsync(owner, "mine", exclusive: true);

        var refused = await other.RequestAsync(new { type = "declare", id = "d", queue = "mine", exclusive = true });

        Assert.Equal(("error", 409), (refused.Type(), refused.GetProperty("status").GetInt32()));
    }

    [Fact]
    public async Task An_exclusive_queue_goes_with_its_socket()
    {
        var vhost = await _client.CreateVhostAsync("ws");
        var owner = await ConnectAsync(vhost);
        await DeclareAsync(owner, "mine", exclusive: true);
        await DeclareAsync(owner, "kept", exclusive: false);

        await owner.CloseAsync();
        await owner.DisposeAsync();

        await Eventually.WaitForAsync(async () => (await _client.GetAsync(Urls.Queue(vhost, "mine"))).StatusCode,
            status => status == HttpStatusCode.NotFound, "the exclusive queue to be deleted with its socket");
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync(Urls.Queue(vhost, "kept"))).StatusCode);
    }

    [Fact]
    public async Task A_declaration_with_invalid_arguments_answers_an_error_frame_naming_the_argument()
    {
        var vhost = await _client.CreateVhostAsync("ws");
        await using var socket = await ConnectAsync(vhost);

        var error = await socket.RequestAsync(new { type = "declare", id = "d", queue = "q", arguments = new Dictionary<string, object> { ["x-max-length"] = -1 } });

        Assert.Equal(("error", 400), (error.Type(), error.GetProperty("status").GetInt32()));
        Assert.Contains("x-max-length", error.Str("detail"));
    }
}
