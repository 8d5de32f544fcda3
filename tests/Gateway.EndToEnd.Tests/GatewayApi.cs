using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// The HTTP API of one server process, as a client sees it (its own models, nothing from the server's code). Every
/// call that must succeed throws <see cref="UnexpectedAnswerException"/> with the server's problem document when it
/// answers otherwise, so that a failing step names itself; connection failures surface as
/// <see cref="HttpRequestException"/> (what the crash tests expect once the server is killed).
/// </summary>
public sealed class GatewayApi(HttpClient http, string vhost = "default")
{
    /// <summary>camelCase as the API; absent optional fields are left out rather than sent as null.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private string Vhost => $"api/vhosts/{E(vhost)}";

    /// <summary>The vhost this API speaks to.</summary>
    public string VhostName => vhost;

    /// <summary>Creates a vhost with a unique name (so that tests sharing one server keep apart) and answers its API.</summary>
    public async Task<GatewayApi> CreateVhostAsync(string prefix = "t")
    {
        var name = $"{prefix}-{Guid.NewGuid():N}";
        using var response = await http.PutAsync($"api/vhosts/{E(name)}", content: null);
        await EnsureSuccessAsync(response);
        return new GatewayApi(http, name);
    }

    public async Task<HttpStatusCode> DeclareQueueAsync(string queue, QueueDeclaration? declaration = null)
    {
        using var response = declaration is null
            ? await http.PutAsync($"{Vhost}/queues/{E(queue)}", content: null)
            : await http.PutAsJsonAsync($"{Vhost}/queues/{E(queue)}", declaration, Json);
        await EnsureSuccessAsync(response);
        return response.StatusCode;
    }

    public async Task<HttpStatusCode> DeclareExchangeAsync(string exchange, ExchangeDeclaration declaration)
    {
        using var response = await http.PutAsJsonAsync($"{Vhost}/exchanges/{E(exchange)}", declaration, Json);
        await EnsureSuccessAsync(response);
        return response.StatusCode;
    }

    public async Task<BindingInfo> BindAsync(BindingDeclaration binding)
    {
        using var response = await http.PostAsJsonAsync($"{Vhost}/bindings", binding, Json);
        return await ReadAsync<BindingInfo>(response);
    }

    public async Task<List<BindingInfo>> ListBindingsAsync()
    {
        using var response = await http.GetAsync($"{Vhost}/bindings");
        return await ReadAsync<List<BindingInfo>>(response);
    }

    /// <summary>GET on a queue: the queue, or null when the server answers 404.</summary>
    public Task<QueueInfo?> FindQueueAsync(string queue) => FindAsync<QueueInfo>($"{Vhost}/queues/{E(queue)}");

    /// <summary>GET on an exchange: the exchange, or null when the server answers 404.</summary>
    public Task<ExchangeInfo?> FindExchangeAsync(string exchange) => FindAsync<ExchangeInfo>($"{Vhost}/exchanges/{E(exchange)}");

    /// <summary>Publishes one message; the answer is the publisher confirm.</summary>
    public async Task<PublishAnswer> PublishAsync(string exchange, PublishEnvelope message, CancellationToken cancellationToken = default)
    {
        using var response = await http.PostAsJsonAsync($"{Vhost}/exchanges/{E(exchange)}/publish", message, Json, cancellationToken);
        return await ReadAsync<PublishAnswer>(response);
    }

    /// <summary>Publishes messages in one request; one confirm per message, in order.</summary>
    public async Task<List<PublishAnswer>> PublishBatchAsync(string exchange, IReadOnlyList<PublishEnvelope> messages)
    {
        using var response = await http.PostAsJsonAsync($"{Vhost}/exchanges/{E(exchange)}/publish/batch", new { messages }, Json);
        return (await ReadAsync<BatchPublishAnswer>(response)).Results;
    }

    public async Task<List<Delivery>> GetAsync(string queue, GetRequest request)
    {
        using var response = await http.PostAsJsonAsync($"{Vhost}/queues/{E(queue)}/get", request, Json);
        return await ReadAsync<List<Delivery>>(response);
    }

    /// <summary>GET on a queue that must exist.</summary>
    public async Task<QueueInfo> GetQueueAsync(string queue) =>
        await FindQueueAsync(queue) ?? throw new UnexpectedAnswerException($"Queue '{queue}' does not exist in vhost '{vhost}'.");

    public async Task DeleteQueueAsync(string queue)
    {
        using var response = await http.DeleteAsync($"{Vhost}/queues/{E(queue)}");
        await EnsureSuccessAsync(response);
    }

    public async Task AckAsync(string queue, IReadOnlyList<string> deliveryTags)
    {
        using var response = await http.PostAsJsonAsync($"{Vhost}/queues/{E(queue)}/ack", new { deliveryTags }, Json);
        await EnsureSuccessAsync(response);
    }

    /// <summary>
    /// Takes everything ready in the queue with auto-ack (<c>get</c>, max 1000, until an empty answer), in delivery
    /// order. Fails when the queue keeps answering past <paramref name="most"/> messages (a loop that would not end).
    /// </summary>
    public async Task<List<Delivery>> DrainAsync(string queue, int most = 100_000)
    {
        var all = new List<Delivery>();
        while (true)
        {
            var batch = await GetAsync(queue, new GetRequest(Max: 1000, AckMode: "auto"));
            if (batch.Count == 0) return all;
            all.AddRange(batch);
            if (all.Count > most)
                throw new InvalidOperationException($"Queue '{queue}' answered more than {most} messages while draining.");
        }
    }

    private async Task<T?> FindAsync<T>(string path) where T : class
    {
        using var response = await http.GetAsync(path);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        return await ReadAsync<T>(response);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response)
    {
        await EnsureSuccessAsync(response);
        return await response.Content.ReadFromJsonAsync<T>(Json)
               ?? throw new UnexpectedAnswerException($"{Describe(response)} answered a null body.");
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response)
    {
        if (response.IsSuccessStatusCode) return;
        var body = await response.Content.ReadAsStringAsync();
        throw new UnexpectedAnswerException($"{Describe(response)} answered {(int)response.StatusCode}: {body}");
    }

    private static string Describe(HttpResponseMessage response) =>
        $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.AbsolutePath}";

    private static string E(string segment) => Uri.EscapeDataString(segment);
}

/// <summary>The server answered, but not with success: a real failure, never an effect of killing it.</summary>
public sealed class UnexpectedAnswerException(string message) : Exception(message);
