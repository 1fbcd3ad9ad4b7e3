import HeraldCore
import XMPPComponent

extension ComponentRouter {
    /// Registers every registration dialect's commands, and the Tigase provider ids and encryption
    /// features Siskin looks for in service discovery.
    public mutating func registerRegistrationCommands(_ context: RegistrationContext) {
        for service in [PushVendor.apns, .fcm] {
            register(P2RegisterCommand(service: service, context: context))
            register(P2UnregisterCommand(service: service, context: context))
        }
        register(V1RegisterCommand(context: context))
        register(V1UnregisterCommand(context: context))
        register(TigaseRegisterCommand(context: context))
        register(TigaseUnregisterCommand(context: context))
        register(WebPushRegisterCommand(context: context))
        register(WebPushUnregisterCommand(context: context))
        for provider in context.apps.tigaseProviders { addFeature(provider) }
        // Siskin reads them from the register-device result; clients that look first in disco see them too.
        if context.supportsEncryptedPayloads {
            for feature in TigaseRegisterCommand.encryptionFeatures { addFeature(feature) }
        }
    }
}
