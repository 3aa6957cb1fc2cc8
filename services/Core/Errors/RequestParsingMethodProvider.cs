using System.Reflection;
using ConceptSuite.Contracts;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Microsoft.AspNetCore.Routing;

namespace ConceptSuite.Core.Errors;

/// <summary>
/// Binds every generated gRPC service (the role of Grpc.AspNetCore's own binder, which this
/// replaces) with request marshallers that turn an unparseable message into INVALID_ARGUMENT
/// naming the request type. Without it a unary or server-streaming call whose request bytes are
/// not a valid message answers UNKNOWN ("Exception was thrown by handler"): those requests are
/// parsed before any interceptor runs. Streamed requests fail the same way, inside the handler.
/// </summary>
public sealed class RequestParsingMethodProvider<TService> : IServiceMethodProvider<TService> where TService : class
{
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<TService> context)
    {
        var bind = BindAttribute(typeof(TService));
        if (bind is null) return;
        var method = bind.BindType.GetMethods(BindingFlags.Public | BindingFlags.Static).FirstOrDefault(m =>
            m.Name == bind.BindMethodName && m.GetParameters() is [{ ParameterType: var p }, _] && p == typeof(ServiceBinderBase))
            ?? throw new InvalidOperationException($"{bind.BindType}.{bind.BindMethodName}(ServiceBinderBase, service) not found");
        method.Invoke(null, [new Binder(context), null]);
    }

    static BindServiceMethodAttribute? BindAttribute(Type? type)
    {
        for (; type is not null; type = type.BaseType)
            if (type.GetCustomAttribute<BindServiceMethodAttribute>(inherit: false) is { } a) return a;
        return null;
    }

    /// <summary>The request marshaller that reports a parse failure as INVALID_ARGUMENT.</summary>
    public static Method<TRequest, TResponse> Guarded<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class where TResponse : class
    {
        method = ReceivedBlocks.Pooled(method); // large tensor payloads parse into pooled buffers
        var inner = method.RequestMarshaller;
        var request = new Marshaller<TRequest>(inner.ContextualSerializer, ctx =>
        {
            try { return inner.ContextualDeserializer(ctx); }
            catch (Exception e) when (e is InvalidProtocolBufferException or InvalidDataException or ArgumentException)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument,
                    $"request: not a valid {typeof(TRequest).Name} message ({e.Message})"));
            }
        });
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, request, method.ResponseMarshaller);
    }

    sealed class Binder(ServiceMethodProviderContext<TService> context) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Model<UnaryServerMethod<TService, TRequest, TResponse>>(method.Name, typeof(TRequest), typeof(ServerCallContext));
            context.AddUnaryMethod(Guarded(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Model<ClientStreamingServerMethod<TService, TRequest, TResponse>>(method.Name,
                typeof(IAsyncStreamReader<TRequest>), typeof(ServerCallContext));
            context.AddClientStreamingMethod(Guarded(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Model<ServerStreamingServerMethod<TService, TRequest, TResponse>>(method.Name,
                typeof(TRequest), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext));
            context.AddServerStreamingMethod(Guarded(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Model<DuplexStreamingServerMethod<TService, TRequest, TResponse>>(method.Name,
                typeof(IAsyncStreamReader<TRequest>), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext));
            context.AddDuplexStreamingMethod(Guarded(method), metadata, invoker);
        }

        /// <summary>The service's method as an open-instance delegate, and the endpoint metadata (the type's and the method's attributes, POST).</summary>
        static (TDelegate Invoker, List<object> Metadata) Model<TDelegate>(string name, params Type[] parameters) where TDelegate : Delegate
        {
            var info = typeof(TService).GetMethod(name, BindingFlags.Public | BindingFlags.Instance, parameters)
                ?? throw new InvalidOperationException($"{typeof(TService)} has no method {name}");
            var invoker = (TDelegate)Delegate.CreateDelegate(typeof(TDelegate), info);
            var metadata = new List<object>();
            metadata.AddRange(typeof(TService).GetCustomAttributes(inherit: true));
            metadata.AddRange(info.GetCustomAttributes(inherit: true));
            metadata.Add(new HttpMethodMetadata(["POST"], acceptCorsPreflight: true));
            return (invoker, metadata);
        }
    }
}
