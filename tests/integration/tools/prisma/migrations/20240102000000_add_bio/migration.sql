-- AlterTable
ALTER TABLE `User` ADD COLUMN `bio` VARCHAR(191) NULL;

-- CreateIndex
CREATE INDEX `Post_published_idx` ON `Post`(`published`);
