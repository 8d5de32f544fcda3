using System.Reflection;
using System.Text.Json;
using Gateway.Broker;
using Gateway.Broker.Durability;
using Gateway.Broker.Queues;
using Gateway.Server.Contracts;
using Gateway.Server.Json;
using Microsoft.AspNetCore.Http.Metadata;

namespace Gateway.Server.Http;

/// <summary>
/// Writes pulled deliveries and then settles them according to what happened to the response:
/// <list type="bullet">
/// <item>written and the client still there: auto-ack deliveries are acknowledged; manual ones stay leased;</item>
/// <item>the client went away before or while the answer was written: every delivery goes back to its place in the
/// queue at once (not after its lease), so nothing taken for a vanished client is lost or delayed.</item>
/// </list>
/// </summary>
internal abstract class DeliveryResult(IBrokerQueue queue, IReadOnlyList<Delivery> deliveries, AckMode ackMode) : IResult
{
    protected IReadOnlyList<Delivery> Deliveries { get; } = deliveries;

    public async Task ExecuteAsync(HttpContext context)
    {
        var aborted = context.RequestAborted;
        try
        {
            await WriteAsync(context.Response, aborted);
            await context.Response.CompleteAsync();
        }
        catch (Exception e) when (e is OperationCanceledException or IOException || aborted.IsCancellationRequested)
        {
            // The client is gone; settled below.
        }
        await SettleAsync(clientGone: aborted.IsCancellationRequested);
    }

    protected abstract Task WriteAsync(HttpResponse response, CancellationToken cancellationToken);

    private async Task SettleAsync(bool clientGone)
    {
        if (Deliveries.Count == 0 || (!clientGone && ackMode == AckMode.Manual)) return;
        var tags = Deliveries.Select(d => d.Tag).ToList();
        try
        {
            if (clientGone) await queue.NackAsync(tags, requeue: true);
            else await queue.AckAsync(tags);
        }
        catch (BrokerException)
        {
            // The queue was deleted or the lease ran out meanwhile: nothing left to settle.
        }
        catch (StorageException)
        {
            // The auto-ack could not be stored: the message stays in the journal and comes back after a restart
            // (at-least-once). The storage failure is logged by the journal.
        }
    }
}

/// <summary>The JSON answer of <c>get</c>: a list of deliveries.</summary>
internal sealed class DeliveryListResult(IBrokerQueue queue, IReadOnlyList<Delivery> deliveries, AckMode ackMode)
    : DeliveryResult(queue, deliveries, ackMode), IEndpointMetadataProvider
{
    protected override Task WriteAsync(HttpResponse response, CancellationToken cancellationToken)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        var dtos = Deliveries.Select(MessageMapping.ToDto).ToList();
        return JsonSerializer.SerializeAsync(response.Body, dtos, GatewayJsonContext.Default.ListDeliveryDto, cancellationToken);
    }

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(List<DeliveryDto>), ["application/json"]));
}

/// <summary>The raw answer of <c>messages/next</c>: the payload as the body, everything else in headers; 204 when empty.</summary>
internal sealed class RawDeliveryResult(IBrokerQueue queue, IReadOnlyList<Delivery> deliveries, AckMode ackMode)
    : DeliveryResult(queue, deliveries, ackMode), IEndpointMetadataProvider
{
    protected override async Task WriteAsync(HttpResponse response, CancellationToken cancellationToken)
    {
        if (Deliveries.Count == 0)
        {
            response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }
        var delivery = Deliveries[0];
        var message = delivery.Message;
        response.StatusCode = StatusCodes.Status200OK;
        var headers = response.Headers;
        RawHeaders.Write(headers, message.Properties);
        headers[RawHeaders.DeliveryTag] = delivery.Tag.ToString();
        RawHeaders.ForEachDeliveryHeader(delivery, headers, static (h, name, value) => h[name] = value);
        response.ContentLength = message.Body.Length;
        await response.Body.WriteAsync(message.Body, cancellationToken);
    }

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder)
    {
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(byte[]), ["application/octet-stream"]));
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status204NoContent, typeof(void), []));
    }
}
