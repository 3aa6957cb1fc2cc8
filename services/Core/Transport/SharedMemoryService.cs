using ConceptSuite.Contracts;
using Grpc.Core;

namespace ConceptSuite.Core.Transport;

/// <summary>Region lifecycle for the shared-memory data plane (tensor.proto, SharedMemory).</summary>
public sealed class SharedMemoryService(SharedRegions regions) : SharedMemory.SharedMemoryBase
{
    public override Task<SharedRegion> CreateRegion(CreateRegionRequest request, ServerCallContext context) =>
        Task.FromResult(regions.Create(SharedRegions.OwnerOf(context), request.Bytes, request.LeaseSeconds));

    public override Task<SharedRegion> RenewRegion(RegionRequest request, ServerCallContext context) =>
        Task.FromResult(regions.Renew(SharedRegions.OwnerOf(context), request.Region, request.LeaseSeconds));

    public override Task<SharedRegion> ReleaseRegion(RegionRequest request, ServerCallContext context) =>
        Task.FromResult(regions.Release(SharedRegions.OwnerOf(context), request.Region));
}
