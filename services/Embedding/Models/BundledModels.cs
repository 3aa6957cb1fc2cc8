using ConceptSuite.Contracts;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// Models shipped with the stage through NuGet packages, found next to the binary.
/// ResNet18 (ImageNet-pretrained, He et al. 2016, "Deep Residual Learning for Image Recognition")
/// from Microsoft.ML.DnnImageFeaturizer.ResNet18: ResNet18.onnx (input Input247 [1,3,224,224]) and
/// ResNetPreprocess.onnx (RGB 0-255 → BGR minus the mean image), copied to DnnImageModels/.
/// </summary>
public static class BundledModels
{
    public const string ResNet18Name = "resnet18";

    public static string ModelsDir => Path.Combine(AppContext.BaseDirectory, "DnnImageModels");
    public static string ResNet18Path => Path.Combine(ModelsDir, "ResNet18Onnx", "ResNet18.onnx");
    public static string ResNetPreprocessPath => Path.Combine(ModelsDir, "ResNetPrepOnnx", "ResNetPreprocess.onnx");

    /// <summary>
    /// ResNet18 with taps after each residual stage (spatial [C, H, W]) and the global average
    /// pool ("pool", [512], the default).
    /// </summary>
    public static OnnxBackbone LoadResNet18(OnnxSettings? settings = null)
    {
        if (!File.Exists(ResNet18Path)) throw new NotFoundException("bundled model file", ResNet18Path);
        return new OnnxBackbone(ResNet18Name, "0.23.1", "nuget:Microsoft.ML.DnnImageFeaturizer.ResNet18/0.23.1", ResNet18Path,
            new InputSpec(3, 224, 224, "RGB 0-255 -> BGR minus ImageNet mean image (ResNetPreprocess.onnx)"),
            [
                new OnnxTap("pool", "Pooling395_Output_0", Flatten: true),
                new OnnxTap("layer1", "ReLU283_Output_0"),
                new OnnxTap("layer2", "ReLU315_Output_0"),
                new OnnxTap("layer3", "ReLU347_Output_0"),
                new OnnxTap("layer4", "ReLU393_Output_0"),
            ],
            preprocessPath: ResNetPreprocessPath, settings: settings);
    }
}
