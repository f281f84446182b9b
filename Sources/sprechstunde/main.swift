import Foundation
import SprechstundeServer

exit(CommandLineInterface.run(CommandLine.arguments))
