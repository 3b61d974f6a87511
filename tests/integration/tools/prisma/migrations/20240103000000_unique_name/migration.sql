-- AlterTable
ALTER TABLE `User` ADD COLUMN `nickname` VARCHAR(191) NULL;

-- CreateIndex
CREATE UNIQUE INDEX `User_name_key` ON `User`(`name`);
